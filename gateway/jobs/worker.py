"""The jobs worker: a Celery task per job type that does the job and keeps its record up to
date. Run it with `python -m paneas.gateway.jobs` (one process, one job at a time).

It lives in the gateway package, not beside the gRPC services: it is a client of the ASR
service as the gateway is, and shares the gateway's job records, storage, settings and
result models; it serves no RPC of its own.

Around every job type's work (`run_job`): the record decides whether it runs, the result is
stored before the record says succeeded, and a busy or unreachable service or storage puts
the job back in the queue. A transcription's work is `transcription.py`'s (the recording cut
at pauses into chunks decoded in parallel by the ASR instances), an OCR job's `ocr.py`'s.
"""

import asyncio

import grpc
import structlog
from celery import Task

from paneas.gateway.analytics.database import open_engine
from paneas.gateway.jobs import housekeeping
from paneas.gateway.jobs.ocr import recognize_document
from paneas.gateway.jobs.protocol import FINISHED
from paneas.gateway.jobs.queue import OCR, TRANSCRIBE, celery_app
from paneas.gateway.jobs.recovery import owner_gone, worker_id
from paneas.gateway.jobs.settings import JobsSettings
from paneas.gateway.jobs.storage import (
    StorageUnavailable,
    one_chunk,
    open_storage,
    result_key,
)
from paneas.gateway.jobs.store import JobStore
from paneas.gateway.jobs.transcription import transcribe_recording
from paneas.gateway.jobs.work import Cancelled, Failed, Work
from paneas.services.runtime.settings import RuntimeSettings

log = structlog.get_logger("paneas.jobs.worker")

# The service is down, restarting or full: the job goes back to the queue and is tried again
# after JOBS_RETRY_SECONDS (so is a job whose storage is unavailable).
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})
MAX_RETRIES = 5

settings = JobsSettings()
app = celery_app(settings)
# Webhook deliveries, /metrics, the queue's gauges and retention's sweep; `job_ended` counts
# a job that ended and queues its webhook.
job_ended = housekeeping.install(app, settings)


class Retry(Exception):
    """The ASR service or the storage could not take the job now."""


def run_task(task: Task, job_id: str, work: Work) -> None:
    """A job task's body: the job done by `work`, or tried again later (Retry)."""
    try:
        final_try = task.request.retries >= MAX_RETRIES
        asyncio.run(run_job(job_id, settings, work, final_try=final_try))
    except Retry as error:
        raise task.retry(countdown=settings.retry_seconds, exc=error) from None


@app.task(name=TRANSCRIBE, bind=True, max_retries=MAX_RETRIES)
def transcribe(task: Task, job_id: str) -> None:
    run_task(task, job_id, transcribe_recording)


@app.task(name=OCR, bind=True, max_retries=MAX_RETRIES)
def ocr(task: Task, job_id: str) -> None:
    run_task(task, job_id, recognize_document)


async def run_job(job_id: str, settings: JobsSettings, work: Work, final_try: bool = True) -> None:
    """Everything a job's task does around its `work`: the record decides whether it runs,
    and ends up succeeded (the result stored first), failed, back in the queue, or left as
    its canceller set it."""
    runtime = RuntimeSettings()
    engine = open_engine(settings.async_url())
    store = JobStore(engine, on_end=job_ended, worker=worker_id())
    storage = open_storage(settings)
    try:
        job = await store.get(job_id)
        if job is None or job.status in FINISHED:
            # Deleted, or done by an earlier delivery of the same task.
            log.info("job skipped", job_id=job_id, status=job.status if job else "deleted")
            return
        if job.status == "running" and not owner_gone(job, settings):
            # A second delivery (`recovery.py` sends again what a lost broker may have
            # dropped) of a job a live worker is doing.
            log.info("job skipped", job_id=job_id, status="running", worker=job.worker)
            return
        if not await store.start(job):
            return
        log.info("job started", job_id=job_id, type=job.type)
        try:
            done = await work(job, store, storage, settings, runtime)
        except Cancelled:
            if await store.status(job_id) == "taken":
                # Taken for abandoned (no heartbeat for too long): another worker has it.
                log.warning("job taken over by another worker", job_id=job_id)
            else:
                log.info("job cancelled while running", job_id=job_id)
            return
        except Failed as error:
            await store.fail(job_id, error.code, str(error))
            log.warning("job failed", job_id=job_id, code=error.code)
            return
        except grpc.aio.AioRpcError as error:
            if error.code() in RETRYABLE and not final_try:
                await store.requeue(job_id)
                log.warning("job retried", job_id=job_id, code=error.code().name)
                raise Retry(error.details()) from None
            await store.fail(job_id, error.code().name.lower(), error.details() or "")
            log.warning("job failed", job_id=job_id, code=error.code().name)
            return
        await storage.write(result_key(job_id), one_chunk(done.result))
        if not await store.succeed(job_id, done.duration_seconds, done.summary, done.summary_error):
            if await store.status(job_id) in (None, "cancelled"):
                # Cancelled after the last piece: the canceller deleted the files before
                # this result was written, so it goes too. (A job another worker took over
                # keeps its files: that worker writes the same result.)
                await storage.delete_prefix(job_id)
            return
        log.info("job succeeded", job_id=job_id, audio_seconds=done.duration_seconds)
    except (Retry, asyncio.CancelledError):
        raise
    except StorageUnavailable as error:
        # Its input unreadable or its result unwritable: tried again later; the last try
        # fails the job with the store's words. A result never written is no success.
        if not final_try and await store.requeue(job_id):
            log.warning("job retried", job_id=job_id, code="storage_unavailable")
            raise Retry(str(error)) from None
        if await store.fail(job_id, "storage_unavailable", str(error)):
            log.warning("job failed", job_id=job_id, code="storage_unavailable", error=str(error))
    except Exception as error:
        # Whatever it was (storage, database, a bug), the job must not look running forever.
        if not await store.fail(job_id, "internal", f"the worker failed: {error!r}"):
            # Cancelled meanwhile, and its input deleted under the worker: nothing failed.
            log.info("job cancelled while running", job_id=job_id)
            return
        log.exception("job failed in the worker", job_id=job_id)
        raise
    finally:
        await engine.dispose()
