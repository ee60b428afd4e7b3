"""The Celery app both sides share: the gateway sends job ids to it, the worker
(`python -m paneas.gateway.jobs`) runs them. The queue carries only the job id; everything
else is in the job's record and its stored input."""

import asyncio

import structlog
from celery import Celery
from sqlalchemy import Row

from paneas.gateway.jobs.settings import JobsSettings

log = structlog.get_logger("paneas.gateway.jobs")

QUEUE = "jobs"
TRANSCRIBE = "paneas.jobs.transcribe"
OCR = "paneas.jobs.ocr"
# The task that does a job of each type.
TASKS = {"transcription": TRANSCRIBE, "ocr": OCR}
# Webhook deliveries have a queue of their own: behind the jobs' queue they would wait for
# every queued job; on their own, a worker takes one between two jobs (Redis serves a
# worker's queues in turn).
WEBHOOK_QUEUE = "jobs-webhooks"
WEBHOOK = "paneas.jobs.webhook"


def celery_app(settings: JobsSettings) -> Celery:
    app = Celery("paneas-jobs", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_routes={WEBHOOK: {"queue": WEBHOOK_QUEUE}},
        # Acknowledged when the task ends, and given back if its process dies: a worker lost
        # mid-job loses no job. Tasks are idempotent (the record's status decides what runs).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One job at a time per process: a prefetched second job would wait behind a long
        # first one while another worker sits idle.
        worker_prefetch_multiplier=1,
        # The job record is the result; Celery's own result store would be a second truth.
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        # Publishing (the gateway's POST, the worker's retries and webhooks) fails fast when
        # Redis is down: a connection refused or timed out within the broker timeout, tried
        # twice more within a second, then an error (the gateway answers 503 with a retry
        # hint). Without socket timeouts a publish on a dead connection waits forever.
        broker_connection_timeout=settings.broker_timeout_seconds,
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 0.5,
        },
        # The worker waits for Redis at its start and after losing it, however long it is
        # down, and carries on by itself once Redis is back (`recovery.py` re-queues what a
        # Redis that lost its data no longer holds).
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_transport_options={
            # Until acknowledged, a task stays in Redis's `unacked` hash, given back to the
            # queue once older than this (kombu's restore_visible). Why it is long, and what
            # recovers a dead worker's job sooner: `recovery.py`.
            "visibility_timeout": settings.visibility_timeout_seconds,
            "socket_connect_timeout": settings.broker_timeout_seconds,
            # A Redis that accepts but does not answer (hung, paused) fails a publish too.
            # Above kombu's 1 s BRPOP poll, so only a dead connection times out.
            "socket_timeout": settings.broker_timeout_seconds + 1.0,
        },
    )
    return app


class JobQueue:
    """The gateway's side. Celery's client calls block on the broker, so they run in a
    thread."""

    def __init__(self, settings: JobsSettings, app: Celery | None = None) -> None:
        # The worker passes its own app (it queues webhooks); the gateway has one of its own.
        self.app = app or celery_app(settings)

    async def submit(self, task: str, job_id: str) -> None:
        # The task id is the job id: a revoke needs nothing else.
        await asyncio.to_thread(self.app.send_task, task, args=[job_id], task_id=job_id)

    async def notify_ended(self, job: Row) -> None:
        """Queues the delivery of an ended job's webhook, if it has one (`JobStore.on_end`).
        Its task id is not the job id, which a cancellation revokes."""
        if not job.webhook_url:
            return
        try:
            await asyncio.to_thread(self.app.send_task, WEBHOOK, args=[job.id])
        except Exception:
            # The job's end stands; only its notification is lost (the broker is down).
            log.exception("webhook not queued", job_id=job.id)

    async def revoke(self, job_id: str) -> None:
        """A queued task is dropped when a worker takes it; a running one notices its job's
        status instead (the worker watches it), so nothing is killed mid-write."""
        try:
            await asyncio.to_thread(self.app.control.revoke, job_id)
        except Exception:
            # Redis is down: the cancellation stands all the same (the record says it; a
            # worker that gets the task skips it, one running it stops).
            log.warning("revoke not sent", job_id=job_id, exc_info=True)

    def close(self) -> None:
        self.app.close()
