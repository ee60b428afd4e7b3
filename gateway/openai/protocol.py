"""Wire models of OpenAI's audio API as the gateway serves it (`/v1/audio/...`).

Field names, types and presence follow OpenAI's API reference so that the official SDKs
parse them into `Transcription`, `TranscriptionVerbose`, `Translation` ... unchanged; the
models also document the routes in `/openapi.json`.
"""

from typing import Literal

from pydantic import BaseModel, Field

ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]
Granularity = Literal["word", "segment"]


class ErrorDetail(BaseModel):
    message: str
    type: str = Field(description="invalid_request_error, requests, server_error ...")
    param: str | None = Field(None, description="The request parameter at fault, if any")
    code: str | None = None


class ErrorBody(BaseModel):
    """Every error of a `/v1/` route."""

    error: ErrorDetail


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
