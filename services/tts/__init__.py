"""TTS service (contract in proto/paneas/tts/v1; implementation pending)."""
