"""TTS engines behind one protocol (`base.TtsEngine`): Piper, Kokoro and espeak-ng."""
