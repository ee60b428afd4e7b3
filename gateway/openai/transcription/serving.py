"""The calls behind the transcription and translation routes: Recognize for an answer in any
response format, RecognizeStream for `stream=true`'s server-sent events. Every error leaves
as OpenAI's error body."""

from collections.abc import AsyncIterator, Sequence
from typing import Literal

import grpc
from fastapi import Request
from fastapi.responses import Response

from paneas.asr.v1 import asr_pb2
from paneas.gateway import calls
from paneas.gateway.asr.tasks import TASKS
from paneas.gateway.errors import grpc_error_message, openai_stream_error
from paneas.gateway.metadata import grpc_metadata
from paneas.gateway.openai.errors import OpenAIError
from paneas.gateway.openai.transcription.protocol import (
    TranscriptionForm,
    TranscriptTextDelta,
    TranscriptTextDone,
)
from paneas.gateway.openai.transcription.render import join_delta, render

RECOGNIZE = "/paneas.asr.v1.AsrService/Recognize"
RECOGNIZE_STREAM = "/paneas.asr.v1.AsrService/RecognizeStream"

Task = Literal["transcribe", "translate"]


def recognition_config(
    *,
    model: str,
    aliases: Sequence[str],
    task: Task,
    language: str,
    prompt: str,
    temperature: float,
    word_timestamps: bool,
    multichannel: bool = False,
) -> asr_pb2.RecognitionConfig:
    """OpenAI's parameters as a RecognitionConfig. OpenAI model names (`whisper-1` ...)
    mean the service's default model; anything else names a model of the service."""
    return asr_pb2.RecognitionConfig(
        model="" if model in aliases else model,
        language=language,
        task=TASKS[task],
        initial_prompt=prompt,
        temperature=temperature,
        word_timestamps=word_timestamps,
        # Uploads are often long and have pauses: skip non-speech as OpenAI's service does.
        vad_filter=True,
        multichannel=multichannel,
    )


def _check(form: TranscriptionForm) -> None:
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


async def speech_to_text(request: Request, task: Task, form: TranscriptionForm) -> Response:
    _check(form)
    audio = await form.file.read()
    if not audio:
        raise OpenAIError(400, "the uploaded file is empty", param="file")
    state = request.app.state
    deadline = calls.deadline(request, state.settings.asr_timeout_seconds)
    config = recognition_config(
        model=form.model.strip(),
        aliases=state.settings.asr_model_aliases,
        task=task,
        language=form.language.strip(),
        prompt=form.prompt,
        temperature=form.temperature,
        word_timestamps="word" in form.granularities,
        multichannel=form.multichannel,
    )
    metadata = grpc_metadata(request)
    try:
        if form.stream:
            call = state.backends.asr.RecognizeStream(
                asr_pb2.RecognizeStreamRequest(config=config, audio=audio),
                metadata=metadata,
                timeout=deadline,
            )
            return _events(call, await calls.server_stream(request, call, RECOGNIZE_STREAM))
        call = state.backends.asr.Recognize(
            asr_pb2.RecognizeRequest(config=config, audio=audio),
            metadata=metadata,
            timeout=deadline,
        )
        response = await calls.unary(request, call, RECOGNIZE)
    except grpc.aio.AioRpcError as error:
        _raise_unknown_model(error)
        raise
    return render(
        response,
        form.response_format,
        task,
        form.granularities,
        form.temperature,
        form.multichannel,
    )


def _raise_unknown_model(error: grpc.aio.AioRpcError) -> None:
    if error.code() is grpc.StatusCode.NOT_FOUND:
        raise OpenAIError(
            404, grpc_error_message(error), param="model", code="model_not_found"
        ) from None


def _events(
    call: grpc.aio.UnaryStreamCall, messages: AsyncIterator[asr_pb2.RecognizeStreamResponse]
) -> Response:
    """transcript.text.delta per spoken segment, then transcript.text.done."""

    async def events() -> AsyncIterator[dict]:
        text = ""
        async for message in messages:
            if message.HasField("segment") and message.segment.text.strip():
                delta = join_delta(text, message.segment.text)
                text += delta
                yield TranscriptTextDelta(delta=delta).model_dump()
        yield TranscriptTextDone(text=text.strip()).model_dump()

    return calls.sse_response(events(), call, lambda error: openai_stream_error(error, "asr"))
