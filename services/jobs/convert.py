"""Between `paneas.jobs.v1` messages and what `gateway/jobs/serving.py` takes and answers: a
JobSpec's typed config as the values the REST route's `config` JSON would hold (so both are
checked by the same models, with the same words), and job records as `Job` messages."""

import json

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import Row

from paneas.asr.v1 import asr_pb2
from paneas.gateway.asr.tasks import TASKS
from paneas.gateway.jobs.protocol import utc
from paneas.gateway.jobs.serving import StoredResult, invalid
from paneas.gateway.ocr.options import ENGINES, TEXT_LAYERS
from paneas.jobs.v1 import jobs_pb2
from paneas.ocr.v1 import ocr_pb2

JOB_TYPES = {
    "transcription": jobs_pb2.JOB_TYPE_TRANSCRIPTION,
    "ocr": jobs_pb2.JOB_TYPE_OCR,
}
TYPE_NAMES = {value: name for name, value in JOB_TYPES.items()}
TYPE_NAMES[jobs_pb2.JOB_TYPE_UNSPECIFIED] = "transcription"
# The config each type takes in a JobSpec's `config` oneof.
CONFIG_FIELDS = {"transcription": "transcription", "ocr": "ocr"}

STATUSES = {
    "queued": jobs_pb2.JOB_STATUS_QUEUED,
    "running": jobs_pb2.JOB_STATUS_RUNNING,
    "succeeded": jobs_pb2.JOB_STATUS_SUCCEEDED,
    "failed": jobs_pb2.JOB_STATUS_FAILED,
    "cancelled": jobs_pb2.JOB_STATUS_CANCELLED,
    "expired": jobs_pb2.JOB_STATUS_EXPIRED,
}
WEBHOOK_STATES = {
    "pending": jobs_pb2.WEBHOOK_STATE_PENDING,
    "delivered": jobs_pb2.WEBHOOK_STATE_DELIVERED,
    "failed": jobs_pb2.WEBHOOK_STATE_FAILED,
    "refused": jobs_pb2.WEBHOOK_STATE_REFUSED,
}

TASK_NAMES = {value: name for name, value in TASKS.items()}
TASK_NAMES[asr_pb2.TASK_UNSPECIFIED] = "transcribe"
ENGINE_NAMES = {value: name for name, value in ENGINES.items()}
TEXT_LAYER_NAMES = {value: name for name, value in TEXT_LAYERS.items()}
TEXT_LAYER_NAMES[ocr_pb2.TEXT_LAYER_POLICY_UNSPECIFIED] = "auto"


def _float32(value: float) -> float:
    """A float field as the client meant it (0.2, not 0.20000000298)."""
    return float(f"{value:.7g}")


def _enum(names: dict, value: int, field: str) -> str:
    if value not in names:
        raise invalid(f"invalid config: {field}: {value} is not a value of the enum")
    return names[value]


def spec_type(spec: jobs_pb2.JobSpec) -> str:
    """The job type a spec asks for; its config, when set, must be of that type."""
    if spec.type not in TYPE_NAMES:
        raise invalid(f"type: {spec.type} is not a JobType")
    job_type = TYPE_NAMES[spec.type]
    given = spec.WhichOneof("config")
    if given is not None and given != CONFIG_FIELDS[job_type]:
        raise invalid(
            f"config: a job of type {job_type!r} takes `{CONFIG_FIELDS[job_type]}`, not `{given}`"
        )
    return job_type


def config_values(spec: jobs_pb2.JobSpec, job_type: str) -> dict:
    """The spec's config as the values of `protocol.TranscriptionConfig` or `OcrConfig`."""
    if job_type == "ocr":
        ocr = spec.ocr
        return {
            "languages": list(ocr.languages),
            "engine": _enum(ENGINE_NAMES, ocr.engine, "engine"),
            "pages": ocr.pages,
            "dpi": ocr.dpi,
            "text_layer": _enum(TEXT_LAYER_NAMES, ocr.text_layer_policy, "text_layer_policy"),
        }
    config = spec.transcription
    values = {
        "model": config.model,
        "language": config.language,
        "task": _enum(TASK_NAMES, config.task, "task"),
        "word_timestamps": config.word_timestamps,
        "initial_prompt": config.initial_prompt,
        "hotwords": list(config.hotwords),
        "temperature": _float32(config.temperature),
        "beam_size": config.beam_size,
        "multichannel": config.multichannel,
    }
    if config.HasField("vad_filter"):
        values["vad_filter"] = config.vad_filter
    # Only when asked, as a REST client leaves them out (bounds without diarize are refused).
    if config.summary:
        values["summary"] = True
    if config.diarize:
        values["diarize"] = True
    for bound in ("min_speakers", "max_speakers"):
        if getattr(config, bound):
            values[bound] = getattr(config, bound)
    return values


def _timestamp(value) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(utc(value))
    return stamp


def _config_message(job: jobs_pb2.Job, job_type: str, stored: dict) -> None:
    if job_type == "ocr":
        job.ocr_config.SetInParent()
        job.ocr_config.languages.extend(stored.get("languages", []))
        job.ocr_config.engine = ENGINES.get(stored.get("engine", ""), ocr_pb2.ENGINE_UNSPECIFIED)
        job.ocr_config.pages = stored.get("pages", "")
        job.ocr_config.dpi = stored.get("dpi", 0)
        job.ocr_config.text_layer_policy = TEXT_LAYERS.get(
            stored.get("text_layer", "auto"), ocr_pb2.TEXT_LAYER_POLICY_AUTO
        )
        return
    config = job.transcription_config
    config.SetInParent()
    config.model = stored.get("model", "")
    config.language = stored.get("language", "")
    config.task = TASKS.get(stored.get("task", "transcribe"), asr_pb2.TASK_TRANSCRIBE)
    config.word_timestamps = stored.get("word_timestamps", False)
    config.vad_filter = stored.get("vad_filter", True)
    config.initial_prompt = stored.get("initial_prompt", "")
    config.hotwords.extend(stored.get("hotwords", []))
    config.temperature = stored.get("temperature", 0.0)
    config.beam_size = stored.get("beam_size", 0)
    config.multichannel = stored.get("multichannel", False)
    config.summary = stored.get("summary", False)
    config.diarize = stored.get("diarize", False)
    config.min_speakers = stored.get("min_speakers", 0)
    config.max_speakers = stored.get("max_speakers", 0)


def job_message(row: Row, result: StoredResult | None = None) -> jobs_pb2.Job:
    """A job record (and its result) as JobService shows it."""
    job = jobs_pb2.Job(
        id=row.id,
        type=JOB_TYPES[row.type],
        status=STATUSES[row.status],
        progress=row.progress,
        created_at=_timestamp(row.created_at),
        started_at=_timestamp(row.started_at),
        finished_at=_timestamp(row.finished_at),
        input=jobs_pb2.JobInput(filename=row.filename, bytes=row.input_bytes),
    )
    if row.duration_seconds is not None:
        job.input.duration_seconds = row.duration_seconds
    _config_message(job, row.type, json.loads(row.config))
    if isinstance(result, ocr_pb2.RecognizeResponse):
        job.document.CopyFrom(result)
    elif result is not None:
        job.transcription.CopyFrom(result)
    if row.error_code:
        job.error.code = row.error_code
        job.error.message = row.error_message or ""
    if row.webhook_url:
        job.webhook.url = row.webhook_url
        job.webhook.state = WEBHOOK_STATES[row.webhook_state or "pending"]
        job.webhook.attempts = row.webhook_attempts
        if row.webhook_last_status is not None:
            job.webhook.last_status = row.webhook_last_status
        if row.webhook_last_error is not None:
            job.webhook.last_error = row.webhook_last_error
    # The summary columns come with the summary option (`summary: true`).
    if result is not None and getattr(row, "summary", None) is not None:
        job.summary = row.summary
    if getattr(row, "summary_error_code", None):
        job.summary_error.code = row.summary_error_code
        job.summary_error.message = row.summary_error_message or ""
    return job
