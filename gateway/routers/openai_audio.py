"""OpenAI-compatible speech to text: POST /v1/audio/transcriptions and /v1/audio/translations
-> paneas.asr.v1.AsrService/Recognize (or RecognizeStream with `stream=true`).

Works with the official `openai` client (the form, `gateway/openai/transcription/protocol.py`,
is the one its SDKs send); every error has OpenAI's body (`gateway/errors.py`). Speaker labels:
`model=gpt-4o-transcribe-diarize` with `response_format=diarized_json` (or `diarize=true`).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from paneas.gateway.auth import require_token
from paneas.gateway.openai.protocol import ErrorBody
from paneas.gateway.openai.transcription import serving
from paneas.gateway.openai.transcription.protocol import (
    Transcription,
    TranscriptionDiarized,
    TranscriptionForm,
    TranscriptionVerbose,
    transcription_form,
)

router = APIRouter(tags=["openai"], dependencies=[Depends(require_token)])

Form_ = Annotated[TranscriptionForm, Depends(transcription_form)]
_RESPONSES: dict = {
    200: {
        "description": "json, verbose_json and diarized_json as JSON; text, srt and vtt as "
        "text/plain; with stream=true, server-sent events",
        "model": Transcription | TranscriptionVerbose | TranscriptionDiarized,
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "text/event-stream": {"schema": {"type": "string"}},
        },
    },
    **{
        status: {"model": ErrorBody, "description": "OpenAI error body"}
        for status in (400, 401, 404, 413, 429, 503, 504)
    },
}


@router.post(
    "/v1/audio/transcriptions",
    summary="Transcribe audio (OpenAI-compatible)",
    response_model=None,
    responses=_RESPONSES,
)
async def transcriptions(request: Request, form: Form_) -> Response:
    return await serving.speech_to_text(request, "transcribe", form)


@router.post(
    "/v1/audio/translations",
    summary="Translate audio to English (OpenAI-compatible)",
    response_model=None,
    responses=_RESPONSES,
)
async def translations(request: Request, form: Form_) -> Response:
    return await serving.speech_to_text(request, "translate", form)
