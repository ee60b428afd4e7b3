"""OpenAI-compatible speech to text: POST /v1/audio/transcriptions and /v1/audio/translations
-> paneas.asr.v1.AsrService/Recognize (or RecognizeStream with `stream=true`).

Accepts the multipart form the official SDKs send (`timestamp_granularities[]` repeated);
every error has OpenAI's body (`gateway/errors.py`).
"""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Literal

import grpc
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from sse_starlette import EventSourceResponse

from paneas.asr.v1 import asr_pb2
from paneas.gateway.auth import require_token
from paneas.gateway.disconnect import unless_disconnected
from paneas.gateway.errors import HTTP_STATUS_BY_CODE, grpc_error_message
from paneas.gateway.metadata import deadline_seconds, grpc_metadata
from paneas.gateway.openai import transcription
from paneas.gateway.openai.errors import OpenAIError, openai_error_body
from paneas.gateway.openai.protocol import (
    ErrorBody,
    Granularity,
    ResponseFormat,
    Transcription,
    TranscriptionVerbose,
    TranscriptTextDelta,
    TranscriptTextDone,
)
from paneas.gateway.usage import record_response_usage

router = APIRouter(tags=["openai"], dependencies=[Depends(require_token)])

RECOGNIZE = "/paneas.asr.v1.AsrService/Recognize"
RECOGNIZE_STREAM = "/paneas.asr.v1.AsrService/RecognizeStream"

_RESPONSES: dict = {
    200: {
        "description": "json and verbose_json as JSON; text, srt and vtt as text/plain; "
        "with stream=true, server-sent events",
        "model": Transcription | TranscriptionVerbose,
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

File_ = Annotated[
    UploadFile,
    File(description="Audio in any common container: flac, mp3, mp4, m4a, ogg, wav, webm ..."),
]
Model = Annotated[
    str,
    Form(
        description="whisper-1 (or gpt-4o-transcribe, gpt-4o-mini-transcribe) for the "
        "service's default model; otherwise a model the ASR service serves"
    ),
]
Language = Annotated[str, Form(description="ISO 639-1 code of the spoken language")]
Prompt = Annotated[str, Form(description="Text to guide spelling and style")]
Format = Annotated[ResponseFormat, Form()]
Temperature = Annotated[float, Form(ge=0, le=1)]
Granularities = Annotated[
    list[Granularity],
    Form(
        alias="timestamp_granularities[]",
        description="word and/or segment; needs response_format=verbose_json",
    ),
]
Stream = Annotated[
    bool, Form(description="Server-sent transcript.text.delta events, then transcript.text.done")
]


@dataclass(frozen=True)
class SpeechForm:
    """The multipart form both routes take, as the official SDKs send it."""

    file: UploadFile
    model: str
    language: str
    prompt: str
    response_format: ResponseFormat
    temperature: float
    granularities: list[Granularity]
    stream: bool


def speech_form(
    file: File_,
    model: Model,
    language: Language = "",
    prompt: Prompt = "",
    response_format: Format = "json",
    temperature: Temperature = 0.0,
    timestamp_granularities: Granularities = [],  # noqa: B006 - FastAPI copies defaults
    stream: Stream = False,
) -> SpeechForm:
    return SpeechForm(
        file,
        model,
        language,
        prompt,
        response_format,
        temperature,
        timestamp_granularities,
        stream,
    )


Form_ = Annotated[SpeechForm, Depends(speech_form)]


@router.post(
    "/v1/audio/transcriptions",
    summary="Transcribe audio (OpenAI-compatible)",
    response_model=None,
    responses=_RESPONSES,
)
async def transcriptions(request: Request, form: Form_) -> Response:
    return await _speech_to_text(request, "transcribe", form)


@router.post(
    "/v1/audio/translations",
    summary="Translate audio to English (OpenAI-compatible)",
    response_model=None,
    responses=_RESPONSES,
)
async def translations(request: Request, form: Form_) -> Response:
    return await _speech_to_text(request, "translate", form)


async def _speech_to_text(
    request: Request, task: Literal["transcribe", "translate"], form: SpeechForm
) -> Response:
    if not form.model.strip():
        raise OpenAIError(400, "model must not be empty; use e.g. 'whisper-1'", param="model")
    if form.granularities and form.response_format != "verbose_json":
        raise OpenAIError(
            400,
            "timestamp_granularities[] needs response_format 'verbose_json'",
            param="timestamp_granularities",
        )
    if form.stream and form.response_format not in ("json", "text"):
        raise OpenAIError(
            400,
            f"stream=true sends transcript.text events; response_format "
            f"'{form.response_format}' cannot be streamed (use 'json' or 'text')",
            param="stream",
        )
    audio = await form.file.read()
    if not audio:
        raise OpenAIError(400, "the uploaded file is empty", param="file")
    state = request.app.state
    try:
        deadline = deadline_seconds(request, state.settings.asr_timeout_seconds)
    except ValueError as error:
        raise OpenAIError(400, str(error)) from None
    config = transcription.recognition_config(
        model=form.model.strip(),
        aliases=state.settings.asr_model_aliases,
        task=task,
        language=form.language.strip(),
        prompt=form.prompt,
        temperature=form.temperature,
        word_timestamps="word" in form.granularities,
    )
    metadata = grpc_metadata(request)
    try:
        if form.stream:
            return await _sse(request, config, audio, metadata, deadline)
        call = state.backends.asr.Recognize(
            asr_pb2.RecognizeRequest(config=config, audio=audio),
            metadata=metadata,
            timeout=deadline,
        )
        response = await unless_disconnected(request, call, call)
    except grpc.aio.AioRpcError as error:
        _raise_unknown_model(error)
        raise
    record_response_usage(request, RECOGNIZE, response)
    return transcription.render(
        response, form.response_format, task, form.granularities, form.temperature
    )


def _raise_unknown_model(error: grpc.aio.AioRpcError) -> None:
    if error.code() is grpc.StatusCode.NOT_FOUND:
        raise OpenAIError(
            404, grpc_error_message(error), param="model", code="model_not_found"
        ) from None


async def _sse(
    request: Request,
    config: asr_pb2.RecognitionConfig,
    audio: bytes,
    metadata: tuple[tuple[str, str], ...],
    deadline: float,
) -> Response:
    call = request.app.state.backends.asr.RecognizeStream(
        asr_pb2.RecognizeStreamRequest(config=config, audio=audio),
        metadata=metadata,
        timeout=deadline,
    )
    # The first message before answering: a file the service refuses gets a real 4xx.
    try:
        first = await unless_disconnected(request, call, call.read())
    except BaseException:
        call.cancel()
        raise

    async def events() -> AsyncIterator[dict]:
        message, text = first, ""
        try:
            while message is not grpc.aio.EOF:
                record_response_usage(request, RECOGNIZE_STREAM, message)
                if message.HasField("segment") and message.segment.text.strip():
                    delta = transcription.join_delta(text, message.segment.text)
                    text += delta
                    yield _event(TranscriptTextDelta(delta=delta).model_dump())
                message = await call.read()
            yield _event(TranscriptTextDone(text=text.strip()).model_dump())
        except grpc.aio.AioRpcError as error:
            status = HTTP_STATUS_BY_CODE.get(error.code(), 500)
            yield _event(openai_error_body(status, grpc_error_message(error, "asr")))
        finally:
            # Client gone (sse-starlette cancels this generator) or stream over: free the
            # service's worker at once.
            call.cancel()

    return EventSourceResponse(events())


def _event(payload: dict) -> dict:
    return {"data": json.dumps(payload, ensure_ascii=False, separators=(",", ":"))}
