"""ASR service (contract in proto/paneas/asr/v1; implementation pending)."""
