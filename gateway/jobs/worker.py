"""The jobs worker: a Celery task per job type that does the job and keeps its record up to
date. Run it with `python -m paneas.gateway.jobs` (one process, one job at a time).

It lives in the gateway package, not beside the gRPC services: it is a client of the ASR
service as the gateway is, and shares the gateway's job records, storage, settings and
result models; it serves no RPC of its own.

Around every job type's work (`run_job`): the record decides whether it runs, the result is
stored before the record says succeeded, and a busy or unreachable service or storage puts
the job back in the queue. An OCR job's work is `ocr.py`'s.

A transcription reads the stored input, calls `AsrService/RecognizeStream` (the same decode
as `Recognize`, segment by segment, so the record's progress is the decoded share of the
audio) and stores the whole `RecognizeResponse`. While the call runs the worker checks the
record every JOBS_PROGRESS_INTERVAL_SECONDS; a job cancelled meanwhile has its call
cancelled, which stops the decoding in the service.
"""

import asyncio

import grpc
import structlog
from celery import Task
from sqlalchemy import Row

from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.gateway.analytics.database import open_engine
from paneas.gateway.jobs import housekeeping, metrics
from paneas.gateway.jobs.ocr import recognize_document
from paneas.gateway.jobs.protocol import FINISHED, TranscriptionConfig
from paneas.gateway.jobs.queue import OCR, TRANSCRIBE, celery_app
from paneas.gateway.jobs.settings import JobsSettings
from paneas.gateway.jobs.storage import (
    Storage,
    StorageUnavailable,
    input_key,
    one_chunk,
    open_storage,
    result_key,
)
from paneas.gateway.jobs.store import JobStore
from paneas.gateway.jobs.work import Cancelled, Done, Failed, Work, call_metadata, grpc_options
from paneas.gateway.settings import GatewaySettings
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
    run_task(task, job_id, transcription)


@app.task(name=OCR, bind=True, max_retries=MAX_RETRIES)
def ocr(task: Task, job_id: str) -> None:
    run_task(task, job_id, recognize_document)


async def run_job(job_id: str, settings: JobsSettings, work: Work, final_try: bool = True) -> None:
    """Everything a job's task does around its `work`: the record decides whether it runs,
    and ends up succeeded (the result stored first), failed, back in the queue, or left as
    its canceller set it."""
    runtime = RuntimeSettings()
    engine = open_engine(settings.async_url())
    store = JobStore(engine, on_end=job_ended)
    storage = open_storage(settings)
    try:
        job = await store.get(job_id)
        if job is None or job.status in FINISHED:
            # Deleted, or done by an earlier delivery of the same task.
            log.info("job skipped", job_id=job_id, status=job.status if job else "deleted")
            return
        if not await store.start(job_id):
            return
        log.info("job started", job_id=job_id, type=job.type)
        try:
            done = await work(job, store, storage, settings, runtime)
        except Cancelled:
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
        if not await store.succeed(job_id, done.duration_seconds):
            # Cancelled after the last piece: the canceller deleted the files before this
            # result was written, so it goes too.
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


async def transcription(
    job: Row,
    store: JobStore,
    storage: Storage,
    settings: JobsSettings,
    runtime: RuntimeSettings,
) -> Done:
    limit = runtime.grpc_max_message_bytes - 64 * 1024
    # Checked on the record, before reading: an upload may be up to JOBS_MAX_UPLOAD_BYTES
    # (2 GiB), which the worker must not load only to refuse it.
    if job.input_bytes > limit:
        raise Failed(
            "input_too_large",
            f"the recording is {job.input_bytes} bytes; jobs send it to the ASR service in one "
            f"message, at most {limit} bytes (GRPC_MAX_MESSAGE_BYTES) until recordings are "
            "split into chunks",
        )
    audio = await storage.read(input_key(job.id))
    config = TranscriptionConfig.model_validate_json(job.config)
    with metrics.CHUNK_SECONDS.labels("transcription").time():
        response = await _recognize(job.id, store, settings, runtime, config, audio)
    return Done(response.SerializeToString(), response.duration_seconds)


async def _recognize(
    job_id: str,
    store: JobStore,
    settings: JobsSettings,
    runtime: RuntimeSettings,
    config: TranscriptionConfig,
    audio: bytes,
) -> asr_pb2.RecognizeResponse:
    """RecognizeStream's steps joined into the RecognizeResponse that `Recognize` answers;
    raises Cancelled when the job's record leaves `running` meanwhile."""
    target = GatewaySettings().asr_target
    response = asr_pb2.RecognizeResponse()
    async with grpc.aio.insecure_channel(target, options=grpc_options(runtime)) as channel:
        call = asr_pb2_grpc.AsrServiceStub(channel).RecognizeStream(
            asr_pb2.RecognizeStreamRequest(config=config.recognition_config(), audio=audio),
            metadata=call_metadata(runtime, job_id),
            timeout=settings.asr_timeout_seconds,
        )
        cancelled = asyncio.Event()
        watcher = asyncio.create_task(
            _watch(job_id, store, call, response, settings.progress_interval_seconds, cancelled)
        )
        try:
            async for step in call:
                if step.model:  # the first step: what was heard
                    response.language = step.language
                    response.language_probability = step.language_probability
                    response.duration_seconds = step.duration_seconds
                    response.model = step.model
                if step.HasField("segment"):
                    response.segments.append(step.segment)
        except asyncio.CancelledError:
            if cancelled.is_set():
                raise Cancelled from None
            raise
        finally:
            watcher.cancel()
        if cancelled.is_set():
            raise Cancelled
    response.text = " ".join(segment.text for segment in response.segments if segment.text)
    return response


async def _watch(
    job_id: str,
    store: JobStore,
    call: grpc.aio.UnaryStreamCall,
    response: asr_pb2.RecognizeResponse,
    interval: float,
    cancelled: asyncio.Event,
) -> None:
    """Every `interval`: the progress so far into the record; a record no longer running
    (cancelled) cancels the call."""
    reported = -1.0
    while True:
        await asyncio.sleep(interval)
        done = response.segments[-1].end_seconds if response.segments else 0.0
        progress = done / response.duration_seconds if response.duration_seconds else 0.0
        if progress != reported:
            duration = response.duration_seconds or None
            still_running = await store.progress(job_id, progress, duration)
            reported = progress
        else:
            still_running = await store.status(job_id) == "running"
        if not still_running:
            cancelled.set()
            call.cancel()
            return
