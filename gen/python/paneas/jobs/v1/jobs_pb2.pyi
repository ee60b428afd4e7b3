import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from paneas.asr.v1 import asr_pb2 as _asr_pb2
from paneas.ocr.v1 import ocr_pb2 as _ocr_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_TYPE_UNSPECIFIED: _ClassVar[JobType]
    JOB_TYPE_TRANSCRIPTION: _ClassVar[JobType]
    JOB_TYPE_OCR: _ClassVar[JobType]

class JobStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATUS_UNSPECIFIED: _ClassVar[JobStatus]
    JOB_STATUS_QUEUED: _ClassVar[JobStatus]
    JOB_STATUS_RUNNING: _ClassVar[JobStatus]
    JOB_STATUS_SUCCEEDED: _ClassVar[JobStatus]
    JOB_STATUS_FAILED: _ClassVar[JobStatus]
    JOB_STATUS_CANCELLED: _ClassVar[JobStatus]
    JOB_STATUS_EXPIRED: _ClassVar[JobStatus]

class WebhookState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WEBHOOK_STATE_UNSPECIFIED: _ClassVar[WebhookState]
    WEBHOOK_STATE_PENDING: _ClassVar[WebhookState]
    WEBHOOK_STATE_DELIVERED: _ClassVar[WebhookState]
    WEBHOOK_STATE_FAILED: _ClassVar[WebhookState]
    WEBHOOK_STATE_REFUSED: _ClassVar[WebhookState]
JOB_TYPE_UNSPECIFIED: JobType
JOB_TYPE_TRANSCRIPTION: JobType
JOB_TYPE_OCR: JobType
JOB_STATUS_UNSPECIFIED: JobStatus
JOB_STATUS_QUEUED: JobStatus
JOB_STATUS_RUNNING: JobStatus
JOB_STATUS_SUCCEEDED: JobStatus
JOB_STATUS_FAILED: JobStatus
JOB_STATUS_CANCELLED: JobStatus
JOB_STATUS_EXPIRED: JobStatus
WEBHOOK_STATE_UNSPECIFIED: WebhookState
WEBHOOK_STATE_PENDING: WebhookState
WEBHOOK_STATE_DELIVERED: WebhookState
WEBHOOK_STATE_FAILED: WebhookState
WEBHOOK_STATE_REFUSED: WebhookState

class CreateJobRequest(_message.Message):
    __slots__ = ("spec", "chunk")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    spec: JobSpec
    chunk: bytes
    def __init__(self, spec: _Optional[_Union[JobSpec, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class JobSpec(_message.Message):
    __slots__ = ("type", "transcription", "ocr", "filename", "webhook_url", "idempotency_key")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    OCR_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    type: JobType
    transcription: TranscriptionConfig
    ocr: OcrConfig
    filename: str
    webhook_url: str
    idempotency_key: str
    def __init__(self, type: _Optional[_Union[JobType, str]] = ..., transcription: _Optional[_Union[TranscriptionConfig, _Mapping]] = ..., ocr: _Optional[_Union[OcrConfig, _Mapping]] = ..., filename: _Optional[str] = ..., webhook_url: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class TranscriptionConfig(_message.Message):
    __slots__ = ("model", "language", "task", "word_timestamps", "vad_filter", "initial_prompt", "hotwords", "temperature", "beam_size", "multichannel", "summary", "diarize", "min_speakers", "max_speakers")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    WORD_TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    VAD_FILTER_FIELD_NUMBER: _ClassVar[int]
    INITIAL_PROMPT_FIELD_NUMBER: _ClassVar[int]
    HOTWORDS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    BEAM_SIZE_FIELD_NUMBER: _ClassVar[int]
    MULTICHANNEL_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    DIARIZE_FIELD_NUMBER: _ClassVar[int]
    MIN_SPEAKERS_FIELD_NUMBER: _ClassVar[int]
    MAX_SPEAKERS_FIELD_NUMBER: _ClassVar[int]
    model: str
    language: str
    task: _asr_pb2.Task
    word_timestamps: bool
    vad_filter: bool
    initial_prompt: str
    hotwords: _containers.RepeatedScalarFieldContainer[str]
    temperature: float
    beam_size: int
    multichannel: bool
    summary: bool
    diarize: bool
    min_speakers: int
    max_speakers: int
    def __init__(self, model: _Optional[str] = ..., language: _Optional[str] = ..., task: _Optional[_Union[_asr_pb2.Task, str]] = ..., word_timestamps: _Optional[bool] = ..., vad_filter: _Optional[bool] = ..., initial_prompt: _Optional[str] = ..., hotwords: _Optional[_Iterable[str]] = ..., temperature: _Optional[float] = ..., beam_size: _Optional[int] = ..., multichannel: _Optional[bool] = ..., summary: _Optional[bool] = ..., diarize: _Optional[bool] = ..., min_speakers: _Optional[int] = ..., max_speakers: _Optional[int] = ...) -> None: ...

class OcrConfig(_message.Message):
    __slots__ = ("languages", "engine", "pages", "dpi", "text_layer_policy")
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    DPI_FIELD_NUMBER: _ClassVar[int]
    TEXT_LAYER_POLICY_FIELD_NUMBER: _ClassVar[int]
    languages: _containers.RepeatedScalarFieldContainer[str]
    engine: _ocr_pb2.Engine
    pages: str
    dpi: int
    text_layer_policy: _ocr_pb2.TextLayerPolicy
    def __init__(self, languages: _Optional[_Iterable[str]] = ..., engine: _Optional[_Union[_ocr_pb2.Engine, str]] = ..., pages: _Optional[str] = ..., dpi: _Optional[int] = ..., text_layer_policy: _Optional[_Union[_ocr_pb2.TextLayerPolicy, str]] = ...) -> None: ...

class CreateJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("status", "limit", "after")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    status: str
    limit: int
    after: str
    def __init__(self, status: _Optional[str] = ..., limit: _Optional[int] = ..., after: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("data", "has_more", "last_id")
    DATA_FIELD_NUMBER: _ClassVar[int]
    HAS_MORE_FIELD_NUMBER: _ClassVar[int]
    LAST_ID_FIELD_NUMBER: _ClassVar[int]
    data: _containers.RepeatedCompositeFieldContainer[Job]
    has_more: bool
    last_id: str
    def __init__(self, data: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., has_more: _Optional[bool] = ..., last_id: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job", "removed")
    JOB_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    job: Job
    removed: bool
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., removed: _Optional[bool] = ...) -> None: ...

class GetJobResultRequest(_message.Message):
    __slots__ = ("id", "format")
    ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    id: str
    format: str
    def __init__(self, id: _Optional[str] = ..., format: _Optional[str] = ...) -> None: ...

class GetJobResultResponse(_message.Message):
    __slots__ = ("content_type", "content")
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    content: str
    def __init__(self, content_type: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "type", "status", "progress", "created_at", "started_at", "finished_at", "input", "transcription_config", "ocr_config", "transcription", "document", "error", "webhook", "summary", "summary_error")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPTION_CONFIG_FIELD_NUMBER: _ClassVar[int]
    OCR_CONFIG_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: JobType
    status: JobStatus
    progress: float
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    input: JobInput
    transcription_config: TranscriptionConfig
    ocr_config: OcrConfig
    transcription: _asr_pb2.RecognizeResponse
    document: _ocr_pb2.RecognizeResponse
    error: JobError
    webhook: JobWebhook
    summary: str
    summary_error: JobError
    def __init__(self, id: _Optional[str] = ..., type: _Optional[_Union[JobType, str]] = ..., status: _Optional[_Union[JobStatus, str]] = ..., progress: _Optional[float] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., input: _Optional[_Union[JobInput, _Mapping]] = ..., transcription_config: _Optional[_Union[TranscriptionConfig, _Mapping]] = ..., ocr_config: _Optional[_Union[OcrConfig, _Mapping]] = ..., transcription: _Optional[_Union[_asr_pb2.RecognizeResponse, _Mapping]] = ..., document: _Optional[_Union[_ocr_pb2.RecognizeResponse, _Mapping]] = ..., error: _Optional[_Union[JobError, _Mapping]] = ..., webhook: _Optional[_Union[JobWebhook, _Mapping]] = ..., summary: _Optional[str] = ..., summary_error: _Optional[_Union[JobError, _Mapping]] = ...) -> None: ...

class JobInput(_message.Message):
    __slots__ = ("filename", "bytes", "duration_seconds")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    filename: str
    bytes: int
    duration_seconds: float
    def __init__(self, filename: _Optional[str] = ..., bytes: _Optional[int] = ..., duration_seconds: _Optional[float] = ...) -> None: ...

class JobError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class JobWebhook(_message.Message):
    __slots__ = ("url", "state", "attempts", "last_status", "last_error")
    URL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    url: str
    state: WebhookState
    attempts: int
    last_status: int
    last_error: str
    def __init__(self, url: _Optional[str] = ..., state: _Optional[_Union[WebhookState, str]] = ..., attempts: _Optional[int] = ..., last_status: _Optional[int] = ..., last_error: _Optional[str] = ...) -> None: ...
