"""OpenAI's speech API over paneas.tts.v1.TtsService: the wire models (`protocol`) and the
calls themselves (`serving`); voices and formats are shared with the stack's own route
(`paneas.gateway.tts`)."""
