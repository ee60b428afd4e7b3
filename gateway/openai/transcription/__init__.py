"""OpenAI's audio transcriptions and translations: `protocol` (the form and the wire models),
`serving` (the calls to AsrService), `render` (an ASR result in each response format).

The rendering functions are the package's own API too (`transcription.render(...)`,
`transcription.timestamp`, `transcription.join_delta`), as the in-process tests use them.
"""

from paneas.gateway.openai.transcription.render import join_delta, render, timestamp

__all__ = ["join_delta", "render", "timestamp"]
