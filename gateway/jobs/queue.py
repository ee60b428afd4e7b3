"""The Celery app both sides share: the gateway sends job ids to it, the worker
(`python -m paneas.gateway.jobs`) runs them. The queue carries only the job id; everything
else is in the job's record and its stored input."""

import asyncio

from celery import Celery

from paneas.gateway.jobs.settings import JobsSettings

QUEUE = "jobs"
TRANSCRIBE = "paneas.jobs.transcribe"


def celery_app(settings: JobsSettings) -> Celery:
    app = Celery("paneas-jobs", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
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
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_seconds},
    )
    return app


class JobQueue:
    """The gateway's side. Celery's client calls block on the broker, so they run in a
    thread."""

    def __init__(self, settings: JobsSettings) -> None:
        self.app = celery_app(settings)

    async def submit(self, task: str, job_id: str) -> None:
        # The task id is the job id: a revoke needs nothing else.
        await asyncio.to_thread(self.app.send_task, task, args=[job_id], task_id=job_id)

    async def revoke(self, job_id: str) -> None:
        """A queued task is dropped when a worker takes it; a running one notices its job's
        status instead (the worker watches it), so nothing is killed mid-write."""
        await asyncio.to_thread(self.app.control.revoke, job_id)

    def close(self) -> None:
        self.app.close()
