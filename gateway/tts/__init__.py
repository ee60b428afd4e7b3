"""What the speech routes (`POST /v1/audio/speech`, `POST /api/v1/tts`) share: audio formats
and their media types (`formats`), the TTS service's voices and how a request's voice and
model choose one (`voices`), and audio that streams to the client as it is synthesised
(`streaming`)."""
