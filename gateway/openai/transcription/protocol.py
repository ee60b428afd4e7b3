"""Wire models of OpenAI's audio transcriptions and translations as the gateway serves them
(`/v1/audio/transcriptions`, `/v1/audio/translations`).

Field names, types and presence follow OpenAI's API reference so that the official SDKs
parse them into `Transcription`, `TranscriptionVerbose`, `Translation` ... unchanged; the
models also document the routes in `/openapi.json`.
"""

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import File, Form, UploadFile
from pydantic import BaseModel, Field

from paneas.gateway.asr.tasks import MULTICHANNEL

ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]
Granularity = Literal["word", "segment"]

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
# Ours, not OpenAI's: an extra form field the SDKs send through `extra_body`.
Multichannel = Annotated[bool, Form(description=MULTICHANNEL)]


@dataclass(frozen=True)
class TranscriptionForm:
    """The multipart form both routes take, as the official SDKs send it
    (`timestamp_granularities[]` repeated)."""

    file: UploadFile
    model: str
    language: str
    prompt: str
    response_format: ResponseFormat
    temperature: float
    granularities: list[Granularity]
    stream: bool
    multichannel: bool


def transcription_form(
    file: File_,
    model: Model,
    language: Language = "",
    prompt: Prompt = "",
    response_format: Format = "json",
    temperature: Temperature = 0.0,
    timestamp_granularities: Granularities = [],  # noqa: B006 - FastAPI copies defaults
    stream: Stream = False,
    multichannel: Multichannel = False,
) -> TranscriptionForm:
    return TranscriptionForm(
        file,
        model,
        language,
        prompt,
        response_format,
        temperature,
        timestamp_granularities,
        stream,
        multichannel,
    )


class DurationUsage(BaseModel):
    """Usage of models billed by audio duration (Whisper)."""

    type: Literal["duration"] = "duration"
    seconds: float = Field(description="Duration of the input audio in seconds")


class Transcription(BaseModel):
    """`response_format=json`: the text alone (translations carry no usage)."""

    text: str
    usage: DurationUsage | None = None


class TranscriptionWord(BaseModel):
    word: str
    start: float
    end: float
    # Ours: with multichannel=true, the channel the word was heard on.
    channel: int | None = None


class TranscriptionSegment(BaseModel):
    id: int
    # Whisper's decoding-window offset in 10 ms frames; here the segment start in frames.
    seek: int
    start: float
    end: float
    text: str
    # Token ids are not exposed by the service; always empty.
    tokens: list[int] = []
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    # Ours: with multichannel=true, the channel (0-based) the segment was heard on.
    channel: int | None = None


class TranscriptionVerbose(BaseModel):
    """`response_format=verbose_json`."""

    task: Literal["transcribe", "translate"]
    language: str = Field(description='Full lowercase English name, e.g. "english"')
    duration: float
    text: str
    segments: list[TranscriptionSegment] | None = None
    words: list[TranscriptionWord] | None = None
    usage: DurationUsage | None = None


class TranscriptTextDelta(BaseModel):
    """`stream=true`: one per decoded segment, in order."""

    type: Literal["transcript.text.delta"] = "transcript.text.delta"
    delta: str


class TranscriptTextDone(BaseModel):
    """`stream=true`: the last event, with the whole text."""

    type: Literal["transcript.text.done"] = "transcript.text.done"
    text: str
