"""OpenAI-compatible text to speech: POST /v1/audio/speech ->
paneas.tts.v1.TtsService/StreamSynthesize (the voice chosen from ListVoices).

Works with the official `openai` client (`client.audio.speech.create`, and
`with_streaming_response` to play audio while it is synthesised); every error has OpenAI's
body (`gateway/errors.py`).
"""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from paneas.gateway.auth import require_token
from paneas.gateway.openai.protocol import ErrorBody
from paneas.gateway.openai.speech import serving
from paneas.gateway.openai.speech.protocol import SpeechRequest
from paneas.gateway.tts.formats import OPENAI_MEDIA_TYPES

router = APIRouter(tags=["openai"], dependencies=[Depends(require_token)])

_AUDIO = {"schema": {"type": "string", "format": "binary"}}
_RESPONSES: dict = {
    200: {
        "description": "The audio in response_format, sent as it is synthesised (chunked); "
        "with stream_format=sse, server-sent speech.audio.delta events and a closing "
        "speech.audio.done. The header x-paneas-voice names the voice that spoke; with pcm, "
        "x-sample-rate its rate (24000).",
        "content": {
            **{media_type: _AUDIO for media_type in OPENAI_MEDIA_TYPES.values()},
            # One SpeechAudioDelta or SpeechAudioDone (gateway.openai.speech.protocol) per
            # `data:` line.
            "text/event-stream": {"schema": {"type": "string"}},
        },
    },
    **{
        status: {"model": ErrorBody, "description": "OpenAI error body"}
        for status in (400, 401, 404, 429, 503, 504)
    },
}


@router.post(
    "/v1/audio/speech",
    summary="Generate speech from text (OpenAI-compatible)",
    response_model=None,
    responses=_RESPONSES,
)
async def speech(request: Request, body: SpeechRequest) -> Response:
    return await serving.speak(request, body)
