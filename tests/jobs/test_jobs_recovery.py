"""Who may move a running job (gateway/jobs/store.py with a worker) and when its worker counts
as gone (gateway/jobs/recovery.py), on a real SQLite database: the rules that keep a job
given to another worker from being finished, or its result deleted, by the one it was taken
from. The processes themselves are killed in test_jobs_faults.py."""

import asyncio
import os
import socket
from datetime import timedelta
from pathlib import Path

import pytest

from paneas.gateway.analytics.database import open_engine
from paneas.gateway.jobs.recovery import owner_gone, worker_id
from paneas.gateway.jobs.settings import JobsSettings
from paneas.gateway.jobs.store import JobStore, now, upgrade_schema

SETTINGS = JobsSettings(worker_heartbeat_seconds=1)


@pytest.fixture
def engine(tmp_path):
    engine = open_engine(JobsSettings(database_url=f"sqlite:///{tmp_path}/jobs.db").async_url())
    asyncio.run(upgrade_schema(engine))
    yield engine
    asyncio.run(engine.dispose())


def _queued(job_id: str) -> dict:
    return {
        "id": job_id,
        "owner": "owner",
        "type": "transcription",
        "status": "queued",
        "progress": 0.0,
        "config": "{}",
        "filename": "call.wav",
        "input_bytes": 4,
        "created_at": now(),
    }


async def test_only_the_worker_that_runs_a_job_moves_it(engine):
    first, second = JobStore(engine, worker="a:1:x"), JobStore(engine, worker="b:2:y")
    await first.create(**_queued("job"))
    queued = await second.get("job")
    assert await first.start(await first.get("job"))
    # A second delivery that read it queued finds it started.
    assert not await second.start(queued)
    running = await second.get("job")
    assert running.worker == "a:1:x" and running.heartbeat_at is not None
    assert not await second.progress("job", 0.5, None)
    assert not await second.succeed("job", 1.0)
    assert await second.status("job") == "taken" and await first.status("job") == "running"
    # Given back (its worker taken for gone) only as it was read: a heartbeat since wins.
    assert await first.heartbeat() == 1
    assert not await second.release(running)
    assert await second.release(await second.get("job"))
    assert (await second.get("job")).status == "queued"
    assert await second.start(await second.get("job"))
    # The worker it was taken from: refused, and told why.
    assert not await first.progress("job", 0.9, None)
    assert await first.status("job") == "taken"
    assert await second.succeed("job", 1.0, summary="a short summary")
    done = await second.get("job")
    assert done.status == "succeeded" and done.summary == "a short summary"


async def test_a_running_job_is_taken_over_only_from_the_worker_read(engine):
    gone, taker, late = (JobStore(engine, worker=name) for name in ("a:1:x", "b:2:y", "c:3:z"))
    await gone.create(**_queued("job"))
    assert await gone.start(await gone.get("job"))
    seen = await taker.get("job")
    assert await taker.start(seen)
    # A third worker that read the record before the takeover cannot take it too.
    assert not await late.start(seen)
    assert (await late.get("job")).worker == "b:2:y"


def _row(worker: str | None, beat_seconds_ago: float | None) -> dict:
    beat = None if beat_seconds_ago is None else now() - timedelta(seconds=beat_seconds_ago)
    return type("Row", (), {"worker": worker, "heartbeat_at": beat, "started_at": beat})


def test_a_worker_is_gone_when_its_pid_is_or_its_heartbeat_stopped():
    host = socket.gethostname()
    # Above the kernel's largest pid: no process has it.
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    dead = f"{host}:{pid_max + 1}:tag"
    assert owner_gone(_row(dead, 0), SETTINGS)
    # Alive (this test's parent): its heartbeat tells.
    alive = f"{host}:{os.getppid()}:tag"
    assert not owner_gone(_row(alive, 0), SETTINGS)
    assert owner_gone(_row(alive, 5), SETTINGS)
    # Another host: only the heartbeat (three missed beats).
    assert not owner_gone(_row("elsewhere:1:tag", 2), SETTINGS)
    assert owner_gone(_row("elsewhere:1:tag", 4), SETTINGS)
    # This very process is not gone; an earlier one with its pid is.
    assert not owner_gone(_row(worker_id(), 60), SETTINGS)
    assert owner_gone(_row(f"{host}:{os.getpid()}:other", 0), SETTINGS)
