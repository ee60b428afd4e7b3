"""Text to speech under the stack's prefix: POST /api/v1/tts -> TtsService/Synthesize, the
audio itself as the body (the JSON routes `/api/v1/tts:synthesize`, `:streamSynthesize` and
`GET /api/v1/tts/voices` are transcoded from the contract).

Errors have the gateway's google.rpc.Status body, like every `/api/v1` route.
"""

import grpc
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from paneas.gateway import calls
from paneas.gateway.auth import require_token
from paneas.gateway.metadata import grpc_metadata
from paneas.gateway.tts import voices as catalogue
from paneas.gateway.tts.formats import AUDIO_FORMATS, MEDIA_TYPES, FormatName
from paneas.gateway.usage import usage_of
from paneas.tts.v1 import tts_pb2

router = APIRouter(tags=["tts"], dependencies=[Depends(require_token)])

SYNTHESIZE = "/paneas.tts.v1.TtsService/Synthesize"


class TtsRequest(BaseModel):
    text: str = Field(min_length=1, description="The text to speak")
    voice: str = Field(
        "",
        description="A name from GET /api/v1/tts/voices, or an OpenAI voice name (alloy ...); "
        "the service's default when empty",
    )
    language: str = Field(
        "", description="BCP-47, for voices that speak several; the voice's own when empty"
    )
    format: FormatName = Field(
        "wav", description="wav and pcm are 16-bit mono; opus comes in Ogg; aac in ADTS"
    )
    speed: float = Field(1.0, ge=0.25, le=4.0, description="Speaking rate")
    sample_rate_hertz: int = Field(
        0, ge=0, le=48000, description="Output sample rate; the voice's own when 0"
    )
    disable_normalization: bool = Field(
        False,
        description="Speak the text as written: no expansion of numbers, money, ordinals and "
        "abbreviations",
    )


_RESPONSES: dict = {
    200: {
        "description": "The audio. Headers: X-Paneas-Voice (the voice that spoke), "
        "X-Audio-Duration (seconds), X-Sample-Rate (Hz).",
        "content": {
            media_type: {"schema": {"type": "string", "format": "binary"}}
            for media_type in sorted(set(MEDIA_TYPES.values()))
        },
    },
}


@router.post(
    "/api/v1/tts",
    summary="Speak a text; the audio itself in the response",
    response_class=Response,
    responses=_RESPONSES,
)
async def synthesize(request: Request, body: TtsRequest) -> Response:
    if not body.text.strip():
        raise HTTPException(400, "text has nothing to speak")
    state = request.app.state
    deadline = calls.deadline(request, state.settings.tts_timeout_seconds)
    call = state.backends.tts.Synthesize(
        tts_pb2.SynthesizeRequest(
            text=body.text,
            voice=body.voice.strip(),
            language=body.language.strip(),
            format=AUDIO_FORMATS[body.format],
            speed=body.speed,
            sample_rate_hertz=body.sample_rate_hertz,
            disable_normalization=body.disable_normalization,
        ),
        metadata=grpc_metadata(request),
        timeout=deadline,
    )
    try:
        response = await calls.unary(request, call, SYNTHESIZE)
    except grpc.aio.AioRpcError as error:
        if error.code() is grpc.StatusCode.NOT_FOUND and body.voice.strip():
            await _raise_unknown_voice(request, body.voice.strip(), deadline)
        raise
    usage_of(request).characters = len(body.text)
    return Response(
        response.audio,
        media_type=MEDIA_TYPES[body.format],
        headers={
            "X-Paneas-Voice": response.voice,
            "X-Audio-Duration": f"{response.duration_seconds:.3f}",
            "X-Sample-Rate": str(response.sample_rate_hertz),
        },
    )


async def _raise_unknown_voice(request: Request, name: str, deadline: float) -> None:
    """A NOT_FOUND about the voice says which voices there are."""
    try:
        listed = await request.app.state.tts_voices.voices(request, deadline)
    except grpc.aio.AioRpcError:
        return  # the service's own message then
    if catalogue.find_voice(name, "", listed.voices) is None:
        raise HTTPException(
            404,
            f"voice {name!r} does not exist; available voices: "
            f"{catalogue.voice_names(listed.voices)}",
        )
