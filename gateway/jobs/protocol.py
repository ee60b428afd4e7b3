"""Wire models of the jobs API (`/api/v1/jobs`): what a job looks like, its config by type,
and its result: a transcription's has the verbose_json shape (text, language, duration,
segments with their words), an OCR job's is what `POST /api/v1/ocr` answers."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from paneas.asr.v1 import asr_pb2
from paneas.gateway.asr.tasks import MULTICHANNEL, TASKS
from paneas.gateway.ocr.options import ENGINES, TEXT_LAYERS, EngineName, TextLayer
from paneas.ocr.v1 import ocr_pb2
from paneas.services.ocr.errors import InvalidDocument
from paneas.services.ocr.page_selection import page_ranges

JobType = Literal["transcription", "ocr"]
# `expired`: ended more than JOBS_RETENTION_HOURS ago; its input and result are deleted.
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "expired"]
ResultFormat = Literal["json", "verbose_json", "text", "srt", "vtt"]
# The result formats of each job type, the first its default.
RESULT_FORMATS: dict[str, tuple[ResultFormat, ...]] = {
    "transcription": ("verbose_json", "json", "text", "srt", "vtt"),
    "ocr": ("json", "text"),
}
# A job in one of these is done: it will not change again (but to `expired`).
FINISHED: frozenset[JobStatus] = frozenset({"succeeded", "failed", "cancelled", "expired"})


def _words_list(value: object) -> object:
    """Hotwords as a JSON list or, as the multipart ASR route takes them, one comma-separated
    string."""
    if isinstance(value, str):
        return [word.strip() for word in value.split(",") if word.strip()]
    return value


class TranscriptionConfig(BaseModel):
    """The `config` form field of a transcription job, as JSON. Unknown keys are refused, so
    a misspelt option is a 400, not silently ignored."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("", description="Model name or path; the service default when empty")
    language: str = Field("", description="ISO 639-1 or BCP-47; detected when empty")
    task: Literal["transcribe", "translate"] = "transcribe"
    word_timestamps: bool = False
    # Long recordings have long pauses: skipping them is faster and avoids hallucinations.
    vad_filter: bool = True
    initial_prompt: str = ""
    hotwords: Annotated[list[str], BeforeValidator(_words_list)] = []
    temperature: float = Field(0.0, ge=0, le=1)
    beam_size: int = Field(0, ge=0, le=64, description="Service default if 0")
    multichannel: bool = Field(False, description=MULTICHANNEL)
    summary: bool = Field(
        False,
        description="Summarise the transcript with the LLM service (the result's `summary`); "
        "without an LLM the job still succeeds, with `summary_error`",
    )
    diarize: bool = Field(
        False,
        description='Who spoke when: segments and words carry `speaker` ("A", "B", ... in '
        "order of first appearance, the same across the whole recording); with multichannel, "
        "each channel's speakers are labelled on their own",
    )
    # The ASR service's bounds (services/asr/diarization.py MAX_SPEAKERS); 0: no bound.
    min_speakers: int = Field(0, ge=0, le=32, description="With diarize: at least this many")
    max_speakers: int = Field(0, ge=0, le=32, description="With diarize: at most this many")

    @model_validator(mode="after")
    def _speaker_bounds(self) -> "TranscriptionConfig":
        if (self.min_speakers or self.max_speakers) and not self.diarize:
            raise PydanticCustomError(
                "speakers", "min_speakers and max_speakers need diarize: true"
            )
        if self.min_speakers and self.max_speakers and self.min_speakers > self.max_speakers:
            raise PydanticCustomError(
                "speakers",
                "min_speakers ({low}) is more than max_speakers ({high})",
                {"low": self.min_speakers, "high": self.max_speakers},
            )
        return self

    def recognition_config(self) -> asr_pb2.RecognitionConfig:
        return asr_pb2.RecognitionConfig(
            model=self.model,
            language=self.language,
            task=TASKS[self.task],
            initial_prompt=self.initial_prompt,
            hotwords=self.hotwords,
            vad_filter=self.vad_filter,
            word_timestamps=self.word_timestamps,
            temperature=self.temperature,
            beam_size=self.beam_size,
            multichannel=self.multichannel,
            diarization=asr_pb2.DiarizationConfig(
                enable=self.diarize,
                min_speakers=self.min_speakers,
                max_speakers=self.max_speakers,
            ),
        )


class OcrConfig(BaseModel):
    """The `config` of an OCR job, as JSON: `POST /api/v1/ocr`'s options under the same
    names (but `password`: a job's config is stored and shown with the job)."""

    model_config = ConfigDict(extra="forbid")

    languages: Annotated[list[str], BeforeValidator(_words_list)] = Field(
        [], description="Hints, e.g. ['pt', 'en'] or 'pt,en'; the service default when empty"
    )
    engine: EngineName = ""
    pages: str = Field("", description="1-based pages, e.g. '1-3,7'; all when empty")
    dpi: int = Field(0, ge=0, le=600, description="PDF rasterisation DPI (72-600); default if 0")
    text_layer: TextLayer = "auto"

    @field_validator("pages")
    @classmethod
    def _pages(cls, pages: str) -> str:
        # As the OCR service checks them, with its words; the document's page count is
        # checked when the worker has it.
        try:
            page_ranges(pages)
        except InvalidDocument as error:
            raise PydanticCustomError("pages", str(error)) from None
        return pages

    def first_page(self) -> int:
        """The first page the job reads."""
        return min((first for first, _ in page_ranges(self.pages)), default=1)

    def request(self, content: bytes, pages: str) -> ocr_pb2.RecognizeRequest:
        return ocr_pb2.RecognizeRequest(
            content=content,
            languages=self.languages,
            engine=ENGINES[self.engine],
            pages=pages,
            dpi=self.dpi,
            text_layer_policy=TEXT_LAYERS[self.text_layer],
        )


class JobInput(BaseModel):
    filename: str
    bytes: int
    # Known once the worker has decoded the audio.
    duration_seconds: float | None = None


class JobError(BaseModel):
    code: str
    message: str


class JobWebhook(BaseModel):
    """The delivery of the job's webhook (`webhooks.py`)."""

    url: str
    # pending (not ended yet, or retrying), delivered, failed (every attempt failed) or
    # refused (its target or this server's secret does not allow it).
    state: Literal["pending", "delivered", "failed", "refused"] = "pending"
    attempts: int = 0
    # The HTTP status of the last answer; None before any, or when the last attempt got none
    # (then `last_error` says why).
    last_status: int | None = None
    last_error: str | None = None


def _without_unset(names: tuple[str, ...]):
    """A wrap serializer that leaves out these fields while they are None."""

    def serialize(self, handler: SerializerFunctionWrapHandler) -> dict:
        data = handler(self)
        for name in names:
            if getattr(self, name) is None:
                data.pop(name, None)
        return data

    return model_serializer(mode="wrap")(serialize)


class TranscriptWord(BaseModel):
    word: str
    start: float
    end: float
    probability: float
    # With diarize: who spoke it (by time overlap); absent otherwise.
    speaker: str | None = None

    _speaker_only_when_diarized = _without_unset(("speaker",))


class TranscriptSegment(BaseModel):
    id: int
    start: float
    end: float
    text: str
    # Empty unless the job asked for word_timestamps.
    words: list[TranscriptWord]
    # With multichannel: the channel (0-based) it was heard on; absent otherwise.
    channel: int | None = None
    # With diarize: who spoke most of it ("A", "B", ...; per channel with multichannel; empty
    # when no speaker was heard in it); absent otherwise.
    speaker: str | None = None

    _only_when_asked = _without_unset(("channel", "speaker"))


class Transcript(BaseModel):
    """A transcription job's result (`format=verbose_json`, and `result` on the job)."""

    text: str
    language: str
    duration: float
    model: str
    segments: list[TranscriptSegment]
    # With `summary: true`: the LLM's summary, or why there is none (the LLM down or
    # failing); absent otherwise.
    summary: str | None = None
    summary_error: JobError | None = None

    @model_serializer(mode="wrap")
    def _summary_only_when_asked(self, handler: SerializerFunctionWrapHandler) -> dict:
        data = handler(self)
        for name in ("summary", "summary_error"):
            if getattr(self, name) is None:
                data.pop(name, None)
        return data


class Job(BaseModel):
    id: str
    object: Literal["job"] = "job"
    type: JobType
    status: JobStatus
    progress: float = Field(ge=0, le=1)
    created_at: AwareDatetime
    started_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    input: JobInput
    config: dict
    # A transcription's Transcript; an OCR job's document as `POST /api/v1/ocr` answers it.
    result: Transcript | dict | None = None
    error: JobError | None = None
    webhook: JobWebhook | None = None


class JobList(BaseModel):
    """Newest first; the next page is `?after=<last_id>` while `has_more`."""

    object: Literal["list"] = "list"
    data: list[Job]
    has_more: bool
    last_id: str | None


def utc(value: datetime | None) -> datetime | None:
    """The database's naive UTC timestamps as aware ones, so they leave with their `Z`."""
    return value.replace(tzinfo=UTC) if value is not None else None


def transcript_of(response: asr_pb2.RecognizeResponse, multichannel: bool = False) -> Transcript:
    # A diarized job's merged response always has its speakers' summary (maybe empty).
    diarized = response.HasField("diarization")
    return Transcript(
        text=response.text.strip(),
        language=response.language,
        duration=round(response.duration_seconds, 3),
        model=response.model,
        segments=[
            TranscriptSegment(
                id=segment.id,
                start=round(segment.start_seconds, 3),
                end=round(segment.end_seconds, 3),
                text=segment.text,
                words=[
                    TranscriptWord(
                        word=word.word.strip(),
                        start=round(word.start_seconds, 3),
                        end=round(word.end_seconds, 3),
                        # float32 on the wire: six decimals is all it holds.
                        probability=round(word.confidence, 6),
                        speaker=word.speaker if diarized else None,
                    )
                    for word in segment.words
                ],
                channel=segment.channel if multichannel else None,
                speaker=segment.speaker if diarized else None,
            )
            for segment in response.segments
        ],
    )
