"""The one implementation of the jobs API: create, read, render, list and cancel jobs, for
both of its faces, the REST routes (`gateway/routers/jobs.py`) and the gRPC JobService
(`services/jobs/servicer.py`, `paneas.jobs.v1`).

The functions take the caller as its token's digest (`owner`, `auth.token_digest`) and the
request's values already taken apart; they answer job records (rows) and stored results, and
refuse with `JobsError`, which carries both the gRPC status and the HTTP status of the
refusal. Each face renders the rows its own way: the REST routes as the JSON of
`protocol.Job` (`job_json`), JobService as `paneas.jobs.v1.Job` messages. Jobs belong to the
token that created them: another token gets NOT_FOUND (404), as for a job that does not
exist.

The REST adapters at the end (`create`, `get`, `result`, `listing`, `cancel`) are what the
routes call; a `JobsError` leaves them as the gateway's google.rpc.Status body
(`install_jobs` adds its handler).
"""

import json
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import get_args

import grpc
from fastapi import Request, UploadFile
from fastapi.responses import JSONResponse, Response
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
    JobStatus,
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
from paneas.gateway.settings import GatewaySettings
from paneas.ocr.v1 import ocr_pb2

# How long an Idempotency-Key keeps answering with the job it created.
IDEMPOTENCY_WINDOW = timedelta(hours=24)
# Jobs per page of a listing: the default, and the most one page holds.
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

Config = TranscriptionConfig | OcrConfig
StoredResult = asr_pb2.RecognizeResponse | ocr_pb2.RecognizeResponse


@dataclass
class Jobs:
    """What the jobs API needs: on `app.state.jobs` in the gateway, held by the servicer in
    the jobs service. `gateway` says which services this deployment reaches (a job type whose
    service it does not reach is refused)."""

    store: JobStore
    storage: Storage
    queue: JobQueue
    settings: JobsSettings
    gateway: GatewaySettings


class JobsError(Exception):
    """A request the jobs API refuses: the gRPC status JobService ends the call with, the
    HTTP status the REST route answers, and the message (the same words on both). With
    `retry_after` (seconds) the caller is told when to try again: `Retry-After` over HTTP,
    `retry-after-ms` trailing metadata over gRPC."""

    def __init__(
        self,
        code: grpc.StatusCode,
        http_status: int,
        message: str,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after


def invalid(message: str) -> JobsError:
    return JobsError(grpc.StatusCode.INVALID_ARGUMENT, 400, message)


def not_found(job_id: str) -> JobsError:
    return JobsError(grpc.StatusCode.NOT_FOUND, 404, f"no job {job_id!r}")


# What a refusal for an unavailable queue or store tells the caller to wait, seconds: Redis
# or the store restarting is back within a few of these.
RETRY_AFTER_SECONDS = 5


def unavailable(message: str) -> JobsError:
    return JobsError(grpc.StatusCode.UNAVAILABLE, 503, message, RETRY_AFTER_SECONDS)


# The config of each job type.
CONFIGS: dict[str, type[Config]] = {
    "transcription": TranscriptionConfig,
    "ocr": OcrConfig,
}


# The service that does a job of each type.
SERVICES = {"transcription": "asr", "ocr": "ocr"}


def check_type(jobs: Jobs, job_type: str) -> None:
    """Refuses a job type that does not exist or whose service this deployment does not
    reach."""
    if job_type not in CONFIGS:
        raise invalid(f"unknown job type {job_type!r}; use 'transcription' or 'ocr'")
    service = SERVICES[job_type]
    if not getattr(jobs.gateway, f"{service}_target"):
        raise invalid(
            f"type {job_type!r} needs the {service.upper()} service, which this gateway does "
            f"not reach (GATEWAY_{service.upper()}_TARGET is empty)"
        )


def parse_config(jobs: Jobs, job_type: str, values: object) -> Config:
    """The job's config from its values (the REST route's parsed JSON, JobService's typed
    message as a dict), checked as the worker will read it; refused naming the field."""
    check_type(jobs, job_type)
    if not isinstance(values, dict):
        raise invalid('config must be a JSON object, e.g. {"language": "en"}')
    try:
        return CONFIGS[job_type].model_validate(values)
    except ValidationError as error:
        problems = describe_problems(error.errors())
        raise invalid(f"invalid config: {problems}") from None


async def _webhook(url: str, settings: JobsSettings) -> str | None:
    """The webhook URL, refused when it could never be delivered: malformed, reaching a
    non-public address (SSRF), or this server has no signing secret."""
    if not url:
        return None
    try:
        webhooks.split_url(url)
        if problem := webhooks.secret_refusal(settings):
            raise invalid(f"webhook_url cannot be used: {problem}")
        await webhooks.check_target(url, settings.webhook_allow_private)
    except (webhooks.WebhookRefused, webhooks.WebhookUnresolved) as error:
        raise invalid(str(error)) from None
    return url


async def _within_limit(chunks: AsyncIterable[bytes], limit: int) -> AsyncIterator[bytes]:
    """The upload's chunks, refused once they pass JOBS_MAX_UPLOAD_BYTES (the REST route's
    body limit refuses them first, from the request's size)."""
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > limit:
            raise JobsError(
                grpc.StatusCode.OUT_OF_RANGE,
                413,
                f"the upload is larger than the limit of {limit} bytes (JOBS_MAX_UPLOAD_BYTES)",
            )
        yield chunk


async def create_job(
    jobs: Jobs,
    owner: str,
    upload: AsyncIterable[bytes],
    filename: str,
    job_type: str,
    config: Config,
    webhook_url: str,
    idempotency_key: str | None,
) -> Row:
    """Stores the upload and queues its job; the job's record. `upload` is read only once
    every check has passed (an Idempotency-Key seen before answers without reading it), a
    chunk at a time: memory never holds the file."""
    webhook = await _webhook(webhook_url, jobs.settings)
    if idempotency_key:
        if len(idempotency_key) > 255:
            raise invalid("Idempotency-Key is longer than 255 characters")
        # A retried request (the answer was lost) gets the job it created, not a second one.
        # Two first tries at the same moment can still both create one.
        earlier = await jobs.store.by_idempotency_key(
            owner, idempotency_key, now() - IDEMPOTENCY_WINDOW
        )
        if earlier is not None:
            return earlier
    job_id = str(uuid.uuid4())
    try:
        size = await jobs.storage.write(
            input_key(job_id), _within_limit(upload, jobs.settings.max_upload_bytes)
        )
    except StorageUnavailable as error:
        raise unavailable(f"the jobs storage is unavailable, try again: {error}") from None
    if size == 0:
        await jobs.storage.delete_prefix(job_id)
        raise invalid("the uploaded file is empty")
    values = {
        "id": job_id,
        "owner": owner,
        "type": job_type,
        "status": "queued",
        "progress": 0.0,
        "config": config.model_dump_json(),
        "filename": (filename or "upload")[:255],
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
        raise unavailable(f"the jobs queue is unavailable, try again: {error}") from None
    return await jobs.store.get(job_id)


async def owned(jobs: Jobs, owner: str, job_id: str) -> Row:
    """The caller's job; NOT_FOUND when there is none or it is someone else's."""
    row = await jobs.store.get(job_id, owner)
    if row is None:
        raise not_found(job_id)
    return row


async def stored_result(jobs: Jobs, row: Row) -> StoredResult:
    """The stored result: the ASR or OCR service's RecognizeResponse, by the job's type."""
    response = ocr_pb2.RecognizeResponse() if row.type == "ocr" else asr_pb2.RecognizeResponse()
    try:
        response.ParseFromString(await jobs.storage.read(result_key(row.id)))
    except StorageUnavailable as error:
        raise unavailable(f"the jobs storage is unavailable, try again: {error}") from None
    return response


async def get_job(jobs: Jobs, owner: str, job_id: str) -> tuple[Row, StoredResult | None]:
    """The caller's job, and its result once it has succeeded."""
    row = await owned(jobs, owner, job_id)
    result = await stored_result(jobs, row) if row.status == "succeeded" else None
    return row, result


def multichannel(row: Row) -> bool:
    """Whether the job transcribed each channel on its own (its segments carry `channel`)."""
    return row.type == "transcription" and json.loads(row.config).get("multichannel", False)


def rendered(row: Row, response: StoredResult) -> Transcript | dict:
    """The result as a job shows it: a document as `POST /api/v1/ocr` answers it, a
    transcript in the verbose_json shape (segments with `channel` when multichannel)."""
    if isinstance(response, ocr_pb2.RecognizeResponse):
        return to_json(response)
    return transcript(row, response)


def transcript(row: Row, response: asr_pb2.RecognizeResponse) -> Transcript:
    """A transcription job's result, with its summary (or why it has none) when asked."""
    shown = transcript_of(response, multichannel(row))
    shown.summary = row.summary
    if row.summary_error_code:
        shown.summary_error = JobError(
            code=row.summary_error_code, message=row.summary_error_message or ""
        )
    return shown


@dataclass(frozen=True)
class RenderedResult:
    """A result in one format: the body and its media type, the same on both faces."""

    media_type: str
    body: bytes


def _json(value: object) -> RenderedResult:
    # As Starlette's JSONResponse writes it.
    body = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return RenderedResult("application/json", body.encode())


def _text(text: str, media_type: str = "text/plain") -> RenderedResult:
    return RenderedResult(f"{media_type}; charset=utf-8", text.encode())


async def job_result(jobs: Jobs, owner: str, job_id: str, fmt: str) -> RenderedResult:
    """The result of the caller's succeeded job in `fmt` (empty: the type's default)."""
    row = await owned(jobs, owner, job_id)
    formats = RESULT_FORMATS[row.type]
    fmt = fmt or formats[0]
    if fmt not in formats:
        raise invalid(
            f"format {fmt!r} is not available for a job of type {row.type!r}; use one of "
            f"{', '.join(formats)}"
        )
    if row.status == "expired":
        # Gone, not missing: the job is still listed, its result deleted for good.
        hours = jobs.settings.retention_hours
        raise JobsError(
            grpc.StatusCode.FAILED_PRECONDITION,
            410,
            f"job {job_id!r} expired: its input and result were deleted {hours:g} h after it "
            "ended (JOBS_RETENTION_HOURS)",
        )
    if row.status != "succeeded":
        raise JobsError(
            grpc.StatusCode.FAILED_PRECONDITION,
            409,
            f"job {job_id!r} is {row.status}; it has a result once it has succeeded",
        )
    response = await stored_result(jobs, row)
    if fmt == "text":
        return _text(response.text.strip() + "\n")
    if isinstance(response, ocr_pb2.RecognizeResponse):
        return _json(to_json(response))
    if fmt == "srt":
        return _text(srt(response.segments))
    if fmt == "vtt":
        return _text(vtt(response.segments), "text/vtt")
    if fmt == "verbose_json":
        return _json(transcript(row, response).model_dump())
    return _json({"text": response.text.strip()})


async def list_jobs(
    jobs: Jobs, owner: str, status: str, limit: int, after: str
) -> tuple[Sequence[Row], bool]:
    """A page of the caller's jobs, newest first, older than the job `after`; and whether
    there are more. Empty `status`: any; `limit` 0: the default page size."""
    if status and status not in get_args(JobStatus):
        raise invalid(f"status: {status!r} is not one of {', '.join(get_args(JobStatus))}")
    limit = limit or DEFAULT_PAGE_SIZE
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise invalid(f"limit: {limit} is not between 1 and {MAX_PAGE_SIZE}")
    after_row = None
    if after:
        after_row = await jobs.store.get(after, owner)
        if after_row is None:
            raise invalid(f"after: no job {after!r} to list from")
    return await jobs.store.page(owner, status or None, limit, after_row)


async def cancel_job(jobs: Jobs, owner: str, job_id: str) -> Row | None:
    """A queued or running job is cancelled (the job as it now is); a finished one is
    removed (None). Either way its stored input and result are deleted."""
    row = await owned(jobs, owner, job_id)
    if await jobs.store.cancel(job_id):
        await jobs.queue.revoke(job_id)
        try:
            await jobs.storage.delete_prefix(job_id)
        except StorageUnavailable:
            # Cancelled all the same (the worker stops on the record); retention deletes the
            # files of a cancelled job once the store is back.
            pass
        return await jobs.store.get(job_id)
    try:
        await jobs.storage.delete_prefix(row.id)
    except StorageUnavailable as error:
        # The record stays, so the caller can delete it again; no file is left unowned.
        raise unavailable(f"the jobs storage is unavailable, try again: {error}") from None
    await jobs.store.delete(job_id)
    return None


# The REST face: `gateway/routers/jobs.py` calls these.


def _jobs(request: Request) -> Jobs:
    return request.app.state.jobs


def job_json(row: Row, result: Transcript | dict | None = None) -> Job:
    """A job as the REST routes show it."""
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


async def create(
    request: Request,
    token: str,
    file: UploadFile,
    job_type: str,
    config: str,
    webhook_url: str,
    idempotency_key: str | None,
) -> Job:
    jobs = _jobs(request)
    check_type(jobs, job_type)
    try:
        values = json.loads(config or "{}")
    except json.JSONDecodeError as error:
        raise invalid(f"config is not valid JSON: {error}") from None
    parsed = parse_config(jobs, job_type, values)
    # The multipart parser has already spooled the upload to a temporary file (memory holds
    # at most 1 MiB of it); from there it goes to storage a chunk at a time.
    row = await create_job(
        jobs,
        token_digest(token),
        chunks_of(file),
        file.filename or "",
        job_type,
        parsed,
        webhook_url,
        idempotency_key,
    )
    return job_json(row)


async def get(request: Request, token: str, job_id: str) -> Job:
    row, response = await get_job(_jobs(request), token_digest(token), job_id)
    return job_json(row, rendered(row, response) if response is not None else None)


async def result(request: Request, token: str, job_id: str, fmt: ResultFormat | None) -> Response:
    rendering = await job_result(_jobs(request), token_digest(token), job_id, fmt or "")
    return Response(rendering.body, media_type=rendering.media_type)


async def listing(
    request: Request, token: str, status: str | None, limit: int, after: str | None
) -> JobList:
    rows, has_more = await list_jobs(
        _jobs(request), token_digest(token), status or "", limit, after or ""
    )
    return JobList(
        data=[job_json(row) for row in rows],
        has_more=has_more,
        last_id=rows[-1].id if rows else None,
    )


async def cancel(request: Request, token: str, job_id: str) -> Response:
    """A queued or running job is cancelled (200, the job as it now is); a finished one is
    removed (204)."""
    row = await cancel_job(_jobs(request), token_digest(token), job_id)
    if row is None:
        return Response(status_code=204)
    return JSONResponse(job_json(row).model_dump(mode="json"))
