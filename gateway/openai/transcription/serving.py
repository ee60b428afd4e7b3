"""The calls behind the transcription and translation routes: Recognize for an answer in any
response format, RecognizeStream for `stream=true`'s server-sent events. Every error leaves
as OpenAI's error body.

Speaker labels (diarization) are on with `gpt-4o-transcribe-diarize` (settings'
`asr_diarize_model_aliases`: the service's default model) or our extra `diarize=true` with
any model, and only run when the response format shows them (diarized_json, verbose_json,
srt, vtt): json and text have no room for a speaker, so they are not paid for."""

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
    KnownSpeakerSample,
    ResponseFormat,
    TranscriptionForm,
    TranscriptTextDelta,
    TranscriptTextDone,
)
from paneas.gateway.openai.transcription.render import (
    diarized_segment,
    join_delta,
    render,
    segment_id,
)

RECOGNIZE = "/paneas.asr.v1.AsrService/Recognize"
RECOGNIZE_STREAM = "/paneas.asr.v1.AsrService/RecognizeStream"

Task = Literal["transcribe", "translate"]

# The formats that show who spoke: diarization runs for these only.
SPEAKER_FORMATS: frozenset[ResponseFormat] = frozenset(
    {"diarized_json", "verbose_json", "srt", "vtt"}
)


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
    diarization: asr_pb2.DiarizationConfig | None = None,
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
        diarization=diarization,
    )


def diarization_config(
    *, min_speakers: int, max_speakers: int, known_speakers: Sequence[KnownSpeakerSample]
) -> asr_pb2.DiarizationConfig:
    return asr_pb2.DiarizationConfig(
        enable=True,
        min_speakers=min_speakers,
        max_speakers=max_speakers,
        known_speakers=[
            asr_pb2.KnownSpeaker(name=sample.name, audio=sample.audio) for sample in known_speakers
        ],
    )


def _check(form: TranscriptionForm, task: Task, diarizing: bool) -> None:
    if not form.model.strip():
        raise OpenAIError(400, "model must not be empty; use e.g. 'whisper-1'", param="model")
    if form.response_format == "diarized_json":
        if task == "translate":
            raise OpenAIError(
                400,
                "response_format 'diarized_json' is for transcriptions; translations take "
                "json, text, srt, verbose_json or vtt",
                param="response_format",
            )
        if not diarizing:
            raise OpenAIError(
                400,
                f"response_format 'diarized_json' is not compatible with model "
                f"'{form.model.strip()}'; use model 'gpt-4o-transcribe-diarize' (or send "
                f"diarize=true)",
                param="response_format",
            )
    if not diarizing:
        asked = [
            name
            for name, given in (
                ("known_speaker_names[]", form.known_speakers),
                ("min_speakers", form.min_speakers),
                ("max_speakers", form.max_speakers),
            )
            if given
        ]
        if asked:
            raise OpenAIError(
                400,
                f"{', '.join(asked)} label speakers: use model 'gpt-4o-transcribe-diarize' "
                f"(or send diarize=true)",
                param=asked[0].removesuffix("[]"),
            )
    if form.min_speakers and form.max_speakers and form.min_speakers > form.max_speakers:
        raise OpenAIError(
            400,
            f"min_speakers ({form.min_speakers}) must not be over max_speakers "
            f"({form.max_speakers})",
            param="min_speakers",
        )
    if form.granularities and form.response_format != "verbose_json":
        raise OpenAIError(
            400,
            "timestamp_granularities[] needs response_format 'verbose_json'",
            param="timestamp_granularities",
        )
    if form.stream and form.response_format not in ("json", "text", "diarized_json"):
        raise OpenAIError(
            400,
            f"stream=true sends transcript.text events; response_format "
            f"'{form.response_format}' cannot be streamed (use 'json', 'text' or "
            f"'diarized_json')",
            param="stream",
        )


async def speech_to_text(request: Request, task: Task, form: TranscriptionForm) -> Response:
    state = request.app.state
    model = form.model.strip()
    diarize_model = model in state.settings.asr_diarize_model_aliases
    diarizing = diarize_model or form.diarize
    _check(form, task, diarizing)
    audio = await form.file.read()
    if not audio:
        raise OpenAIError(400, "the uploaded file is empty", param="file")
    deadline = calls.deadline(request, state.settings.asr_timeout_seconds)
    labelled = diarizing and form.response_format in SPEAKER_FORMATS
    config = recognition_config(
        model="" if diarize_model else model,
        aliases=state.settings.asr_model_aliases,
        task=task,
        language=form.language.strip(),
        prompt=form.prompt,
        temperature=form.temperature,
        word_timestamps="word" in form.granularities,
        multichannel=form.multichannel,
        diarization=diarization_config(
            min_speakers=form.min_speakers,
            max_speakers=form.max_speakers,
            known_speakers=form.known_speakers,
        )
        if labelled
        else None,
    )
    metadata = grpc_metadata(request)
    try:
        if form.stream:
            call = state.backends.asr.RecognizeStream(
                asr_pb2.RecognizeStreamRequest(config=config, audio=audio),
                metadata=metadata,
                timeout=deadline,
            )
            messages = await calls.server_stream(request, call, RECOGNIZE_STREAM)
            if labelled:
                return _segment_events(call, messages)
            return _events(call, messages, segment_ids=diarize_model)
        call = state.backends.asr.Recognize(
            asr_pb2.RecognizeRequest(config=config, audio=audio),
            metadata=metadata,
            timeout=deadline,
        )
        response = await calls.unary(request, call, RECOGNIZE)
    except grpc.aio.AioRpcError as error:
        _raise_unknown_model(error)
        _raise_bad_known_speaker(error, form.known_speakers)
        raise
    return render(
        response,
        form.response_format,
        task,
        form.granularities,
        form.temperature,
        form.multichannel,
        labelled,
    )


def _raise_unknown_model(error: grpc.aio.AioRpcError) -> None:
    if error.code() is grpc.StatusCode.NOT_FOUND:
        raise OpenAIError(
            404, grpc_error_message(error), param="model", code="model_not_found"
        ) from None


def _raise_bad_known_speaker(
    error: grpc.aio.AioRpcError, known_speakers: Sequence[KnownSpeakerSample]
) -> None:
    """The service's refusal of a known speaker's sample (too short, too long, not audio)
    names OpenAI's parameter, as OpenAI's own refusal does."""
    message = grpc_error_message(error)
    if (
        known_speakers
        and error.code() is grpc.StatusCode.INVALID_ARGUMENT
        and "known speaker" in message.lower().replace("_", " ")
    ):
        raise OpenAIError(
            400, message, param="known_speaker_references", code="invalid_value"
        ) from None


def _events(
    call: grpc.aio.UnaryStreamCall,
    messages: AsyncIterator[asr_pb2.RecognizeStreamResponse],
    *,
    segment_ids: bool = False,
) -> Response:
    """transcript.text.delta per spoken segment, then transcript.text.done. With
    `segment_ids` (gpt-4o-transcribe-diarize), each delta names its segment ("seg_0" ...)."""

    async def events() -> AsyncIterator[dict]:
        text = ""
        index = 0
        async for message in messages:
            if message.HasField("segment") and message.segment.text.strip():
                delta = join_delta(text, message.segment.text)
                text += delta
                event = TranscriptTextDelta(
                    delta=delta, segment_id=segment_id(index) if segment_ids else None
                )
                index += 1
                yield event.model_dump(exclude_none=True)
        yield TranscriptTextDone(text=text.strip()).model_dump()

    return calls.sse_response(events(), call, lambda error: openai_stream_error(error, "asr"))


def _segment_events(
    call: grpc.aio.UnaryStreamCall, messages: AsyncIterator[asr_pb2.RecognizeStreamResponse]
) -> Response:
    """`diarized_json` streamed as OpenAI streams it: transcript.text.segment per spoken
    segment with its speaker (as diarized_json's segments), then transcript.text.done. The
    done event carries no usage: OpenAI's is counted in tokens, which Whisper's service
    does not report (diarized_json's usage has the seconds)."""

    async def events() -> AsyncIterator[dict]:
        text = ""
        index = 0
        async for message in messages:
            if message.HasField("segment") and message.segment.text.strip():
                text += join_delta(text, message.segment.text)
                yield diarized_segment(index, message.segment).model_dump()
                index += 1
        yield TranscriptTextDone(text=text.strip()).model_dump()

    return calls.sse_response(events(), call, lambda error: openai_stream_error(error, "asr"))
