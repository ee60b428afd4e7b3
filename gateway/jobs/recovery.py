"""Jobs that the queue alone would lose or hold back for hours, given back to the queue.

Celery on Redis acknowledges a job's task when it ends (`queue.py`): until then kombu keeps
the message in Redis's `unacked` hash, and gives it back to the queue only once it is older
than the visibility timeout (`restore_visible`, JOBS_VISIBILITY_TIMEOUT_SECONDS, 12 h: it
must outlast the longest job, or a long job would run twice at once). A pool child that dies
mid-job is the exception: its worker rejects the task back to the queue at once. But when the
whole worker dies (the stack stopped, the node lost, SIGKILL), its running job would wait
12 h; and Redis without persistence (the embedded stack's) loses every queued message when
it restarts. Lowering the visibility timeout would trade the first for duplicate runs of long
jobs, so the job records, which are the truth about jobs, decide instead:

- Each running job names its worker process (`worker_id`: host, pid, a tag) and carries a
  heartbeat that process writes every JOBS_WORKER_HEARTBEAT_SECONDS. A worker's housekeeping
  (`housekeeping.py`, from its start on) gives back to the queue every running job whose
  worker is gone: its pid no longer exists on this host, or it missed three heartbeats.
  The record moves back to `queued` only if nobody touched it since it was read, and the
  job is sent again.
- A mark in the broker's Redis (`BROKER_MARK`, no expiry) says the broker still holds what
  was sent to it. When a worker finds it missing (a new or emptied Redis), it sets it and
  sends every queued job again.

Duplicates are harmless: the record decides what runs (`worker.run_job` skips a job that
ended, or that a live worker is running), a job's worker moves only its own record
(`JobStore.worker`: one taken for dead stops at its next progress), and stored chunks are
reused, never decoded twice into the result.
"""

import asyncio
import os
import secrets
import socket
from datetime import timedelta

import structlog
from celery import Celery
from sqlalchemy import Row

from paneas.gateway.jobs.queue import TASKS, JobQueue
from paneas.gateway.jobs.settings import JobsSettings
from paneas.gateway.jobs.store import JobStore, now

log = structlog.get_logger("paneas.jobs.recovery")

# Set in the broker's Redis by the first worker that sees it; its absence means the queue
# lost what it held.
BROKER_MARK = "paneas-jobs:broker-mark"
# Heartbeats a worker may miss before its running job is taken for abandoned.
MISSED_HEARTBEATS = 3


# This process's worker id, made on first use in each process (a pool child forked from the
# worker gets its own).
_ids: dict[int, str] = {}


def worker_id() -> str:
    """This worker process, as a running job's record names it: host, pid and a random tag,
    since a restarted container has the same host name and often the same pids."""
    pid = os.getpid()
    if pid not in _ids:
        _ids[pid] = f"{socket.gethostname()}:{pid}:{secrets.token_hex(4)}"
    return _ids[pid]


def _process_gone(owner: str) -> bool | None:
    """True when `owner` was a process of this host that no longer exists; None when only
    its heartbeat can tell (another host's, a pid alive now, which may be another process
    with a reused pid, or an unreadable name)."""
    host, _, rest = owner.partition(":")
    pid, _, _ = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    if int(pid) == os.getpid():
        # An earlier process with this pid (a restarted container): not this one.
        return owner != worker_id()
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, as another user
        return None
    return None


def owner_gone(job: Row, settings: JobsSettings) -> bool:
    """Whether the worker that runs `job` is gone (see the module's docstring)."""
    if job.worker and (gone := _process_gone(job.worker)) is not None:
        return gone
    last_sign = job.heartbeat_at or job.started_at
    stale = timedelta(seconds=settings.worker_heartbeat_seconds * MISSED_HEARTBEATS)
    return last_sign is None or now() - last_sign > stale


def _claim_broker_mark(app: Celery) -> bool:
    """Sets the mark; True when it was missing (kombu's own Redis client, so the broker
    URL's database, password and transport options apply)."""
    with app.connection_for_write() as connection:
        return bool(connection.default_channel.client.set(BROKER_MARK, worker_id(), nx=True))


async def recover(store: JobStore, queue: JobQueue, settings: JobsSettings) -> None:
    """One round: this worker's heartbeat, abandoned running jobs and a lost queue given
    back. Each part fails alone (the database or Redis may be down now)."""
    try:
        await store.heartbeat()
        for job in await store.running_elsewhere():
            if owner_gone(job, settings) and await store.release(job):
                await queue.submit(TASKS[job.type], job.id)
                log.warning("abandoned job queued again", job_id=job.id, worker=job.worker)
    except Exception:
        log.exception("abandoned jobs not recovered")
    try:
        if await asyncio.to_thread(_claim_broker_mark, queue.app):
            queued = await store.queued_ids()
            for job_id, job_type in queued:
                await queue.submit(TASKS[job_type], job_id)
            if queued:
                log.warning("queued jobs sent again to a new or emptied broker", jobs=len(queued))
    except Exception:
        log.exception("the broker's queue not checked")
