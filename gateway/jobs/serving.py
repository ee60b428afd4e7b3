"""The work behind the jobs routes (`gateway/routers/jobs.py`): create, read, render, list
and cancel jobs. Jobs belong to the token that created them (by its digest): another token
gets 404, as for a job that does not exist. Errors are google.rpc.Status bodies, through the
gateway's HTTPException handler."""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from fastapi import HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import ValidationError
from sqlalchemy import Row

from paneas.asr.v1 import asr_pb2
from paneas.gateway.auth import token_digest
from paneas.gateway.errors import describe_problems
from paneas.gateway.jobs import webhooks
from paneas.gateway.jobs.protocol import (
    RESULT_FORMATS,
    Job,
    JobError,
    JobInput,
    JobList,
    JobWebhook,
    OcrConfig,
    ResultFormat,
    Transcript,
    TranscriptionConfig,
    transcript_of,
    utc,
)
from paneas.gateway.jobs.queue import TASKS, JobQueue
from paneas.gateway.jobs.settings import JobsSettings
from paneas.gateway.jobs.storage import (
    Storage,
    StorageUnavailable,
    chunks_of,
    input_key,
    result_key,
)
from paneas.gateway.jobs.store import JobStore, now
from paneas.gateway.openai.transcription.render import srt, vtt
from paneas.gateway.protojson import to_json
from paneas.ocr.v1 import ocr_pb2

# How long an Idempotency-Key keeps answering with the job it created.
IDEMPOTENCY_WINDOW = timedelta(hours=24)


@dataclass
class Jobs:
    """What the routes need, kept on `app.state.jobs`."""

    store: JobStore
    storage: Storage
    queue: JobQueue
    settings: JobsSettings


def _jobs(request: Request) -> Jobs:
    return request.app.state.jobs


# The config of each job type.
CONFIGS: dict[str, type[TranscriptionConfig | OcrConfig]] = {
    "transcription": TranscriptionConfig,
    "ocr": OcrConfig,
}


# The service that does a job of each type.
SERVICES = {"transcription": "asr", "ocr": "ocr"}


def _config(request: Request, job_type: str, config: str) -> TranscriptionConfig | OcrConfig:
    if job_type not in CONFIGS:
        raise HTTPException(400, f"unknown job type {job_type!r}; use 'transcription' or 'ocr'")
    service = SERVICES[job_type]
    if not getattr(request.app.state.settings, f"{service}_target"):
        raise HTTPException(
            400,
            f"type {job_type!r} needs the {service.upper()} service, which this gateway does "
            f"not reach (GATEWAY_{service.upper()}_TARGET is empty)",
        )
    try:
        values = json.loads(config or "{}")
    except json.JSONDecodeError as error:
        raise HTTPException(400, f"config is not valid JSON: {error}") from None
    if not isinstance(values, dict):
        raise HTTPException(400, 'config must be a JSON object, e.g. {"language": "en"}')
    try:
        return CONFIGS[job_type].model_validate(values)
    except ValidationError as error:
        problems = describe_problems(error.errors())
        raise HTTPException(400, f"invalid config: {problems}") from None


async def _webhook(url: str, settings: JobsSettings) -> str | None:
    """The webhook URL, refused (400) when it could never be delivered: malformed, reaching
    a non-public address (SSRF), or this server has no signing secret."""
    if not url:
        return None
    try:
        webhooks.split_url(url)
        if problem := webhooks.secret_refusal(settings):
            raise HTTPException(400, f"webhook_url cannot be used: {problem}")
        await webhooks.check_target(url, settings.webhook_allow_private)
    except (webhooks.WebhookRefused, webhooks.WebhookUnresolved) as error:
        raise HTTPException(400, str(error)) from None
    return url


async def create(
    request: Request,
    token: str,
    file: UploadFile,
    job_type: str,
    config: str,
    webhook_url: str,
    idempotency_key: str | None,
) -> Job:
    parsed = _config(request, job_type, config)
    jobs = _jobs(request)
    webhook = await _webhook(webhook_url, jobs.settings)
    owner = token_digest(token)
    if idempotency_key:
        if len(idempotency_key) > 255:
            raise HTTPException(400, "Idempotency-Key is longer than 255 characters")
        # A retried request (the answer was lost) gets the job it created, not a second one.
        # Two first tries at the same moment can still both create one.
        earlier = await jobs.store.by_idempotency_key(
            owner, idempotency_key, now() - IDEMPOTENCY_WINDOW
        )
        if earlier is not None:
            return _job(earlier)
    job_id = str(uuid.uuid4())
    # The multipart parser has already spooled the upload to a temporary file (memory holds
    # at most 1 MiB of it); from there it goes to storage a chunk at a time.
    try:
        size = await jobs.storage.write(input_key(job_id), chunks_of(file))
    except StorageUnavailable as error:
        raise HTTPException(503, f"the jobs storage is unavailable, try again: {error}") from None
    if size == 0:
        await jobs.storage.delete_prefix(job_id)
        raise HTTPException(400, "the uploaded file is empty")
    values = {
        "id": job_id,
        "owner": owner,
        "type": job_type,
        "status": "queued",
        "progress": 0.0,
        "config": parsed.model_dump_json(),
        "filename": (file.filename or "upload")[:255],
        "input_bytes": size,
        "webhook_url": webhook,
        "webhook_state": "pending" if webhook else None,
        "idempotency_key": idempotency_key or None,
        "created_at": now(),
    }
    await jobs.store.create(**values)
    try:
        await jobs.queue.submit(TASKS[job_type], job_id)
    except Exception as error:
        # Nothing would ever run it: leave no job behind that looks queued.
        await jobs.store.delete(job_id)
        await jobs.storage.delete_prefix(job_id)
        raise HTTPException(503, f"the jobs queue is unavailable, try again: {error}") from None
    return _job(await jobs.store.get(job_id))


async def _owned(request: Request, token: str, job_id: str) -> Row:
    row = await _jobs(request).store.get(job_id, token_digest(token))
    if row is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return row


async def _response(jobs: Jobs, row: Row) -> asr_pb2.RecognizeResponse | ocr_pb2.RecognizeResponse:
    """The stored result: the ASR or OCR service's RecognizeResponse, by the job's type."""
    response = ocr_pb2.RecognizeResponse() if row.type == "ocr" else asr_pb2.RecognizeResponse()
    try:
        response.ParseFromString(await jobs.storage.read(result_key(row.id)))
    except StorageUnavailable as error:
        raise HTTPException(503, f"the jobs storage is unavailable, try again: {error}") from None
    return response


def _rendered(
    row: Row, response: asr_pb2.RecognizeResponse | ocr_pb2.RecognizeResponse
) -> Transcript | dict:
    """The result as a job shows it: a document as `POST /api/v1/ocr` answers it, a
    transcript in the verbose_json shape (segments with `channel` when multichannel)."""
    if isinstance(response, ocr_pb2.RecognizeResponse):
        return to_json(response)
    multichannel = json.loads(row.config).get("multichannel", False)
    return transcript_of(response, multichannel)


def _job(row: Row, result: Transcript | dict | None = None) -> Job:
    return Job(
        id=row.id,
        type=row.type,
        status=row.status,
        progress=row.progress,
        created_at=utc(row.created_at),
        started_at=utc(row.started_at),
        finished_at=utc(row.finished_at),
        input=JobInput(
            filename=row.filename, bytes=row.input_bytes, duration_seconds=row.duration_seconds
        ),
        config=json.loads(row.config),
        result=result,
        error=JobError(code=row.error_code, message=row.error_message or "")
        if row.error_code
        else None,
        webhook=JobWebhook(
            url=row.webhook_url,
            state=row.webhook_state or "pending",
            attempts=row.webhook_attempts,
            last_status=row.webhook_last_status,
            last_error=row.webhook_last_error,
        )
        if row.webhook_url
        else None,
    )


async def get(request: Request, token: str, job_id: str) -> Job:
    row = await _owned(request, token, job_id)
    result = None
    if row.status == "succeeded":
        result = _rendered(row, await _response(_jobs(request), row))
    return _job(row, result)


async def result(request: Request, token: str, job_id: str, fmt: ResultFormat | None) -> Response:
    row = await _owned(request, token, job_id)
    formats = RESULT_FORMATS[row.type]
    fmt = fmt or formats[0]
    if fmt not in formats:
        raise HTTPException(
            400,
            f"format {fmt!r} is not available for a job of type {row.type!r}; use one of "
            f"{', '.join(formats)}",
        )
    if row.status == "expired":
        # Gone, not missing: the job is still listed, its result deleted for good.
        hours = _jobs(request).settings.retention_hours
        raise HTTPException(
            410,
            f"job {job_id!r} expired: its input and result were deleted {hours:g} h after it "
            "ended (JOBS_RETENTION_HOURS)",
        )
    if row.status != "succeeded":
        raise HTTPException(
            409, f"job {job_id!r} is {row.status}; it has a result once it has succeeded"
        )
    response = await _response(_jobs(request), row)
    if fmt == "text":
        return PlainTextResponse(response.text.strip() + "\n")
    if isinstance(response, ocr_pb2.RecognizeResponse):
        return JSONResponse(to_json(response))
    if fmt == "srt":
        return PlainTextResponse(srt(response.segments))
    if fmt == "vtt":
        return PlainTextResponse(vtt(response.segments), media_type="text/vtt")
    if fmt == "verbose_json":
        return JSONResponse(_rendered(row, response).model_dump())
    return JSONResponse({"text": response.text.strip()})


async def listing(
    request: Request, token: str, status: str | None, limit: int, after: str | None
) -> JobList:
    jobs = _jobs(request)
    owner = token_digest(token)
    after_row = None
    if after:
        after_row = await jobs.store.get(after, owner)
        if after_row is None:
            raise HTTPException(400, f"after: no job {after!r} to list from")
    rows, has_more = await jobs.store.page(owner, status, limit, after_row)
    data: Sequence[Job] = [_job(row) for row in rows]
    return JobList(data=list(data), has_more=has_more, last_id=rows[-1].id if rows else None)


async def cancel(request: Request, token: str, job_id: str) -> Response:
    """A queued or running job is cancelled (200, the job as it now is); a finished one is
    removed (204). Either way its stored input and result are deleted."""
    row = await _owned(request, token, job_id)
    jobs = _jobs(request)
    if await jobs.store.cancel(job_id):
        await jobs.queue.revoke(job_id)
        await jobs.storage.delete_prefix(job_id)
        return JSONResponse(_job(await jobs.store.get(job_id)).model_dump(mode="json"))
    await jobs.storage.delete_prefix(row.id)
    await jobs.store.delete(job_id)
    return Response(status_code=204)
