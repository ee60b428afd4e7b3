"""A long recording through a transcription job is cut at pauses into chunks decoded in
parallel (gateway/jobs/transcription.py): every sentence kept, segments and words on the
recording's timeline, and a worker killed mid-job finishes it without doubling or losing a
segment. Chunks of 30 s here, so a 75 s recording is three of them."""

import os
import signal
from pathlib import Path
from urllib.parse import urlparse

import pytest

from paneas.services.processes import wait_until
from tests.jobs.conftest import base_jobs_env, finished
from tests.support.recordings import assert_every_sentence_heard, call_recording_flac


@pytest.fixture(scope="module")
def jobs_env(jobs_redis, tmp_path_factory) -> dict[str, str]:
    return {
        **base_jobs_env(jobs_redis, tmp_path_factory),
        "JOBS_CHUNK_SECONDS": "30",
        "JOBS_CHUNK_CONCURRENCY": "2",
    }


@pytest.fixture(scope="module")
def call_recording() -> tuple[bytes, list[str], float]:
    return call_recording_flac()


def submit_recording(client, audio: bytes, config: str) -> str:
    answer = client.post(
        "/api/v1/jobs", files={"file": ("call.flac", audio)}, data={"config": config}
    )
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def assert_one_timeline(segments: list[dict], seconds: float) -> None:
    """In time order, inside the recording, and no segment twice (a chunk decoded twice would
    put the same words over the same seconds again)."""
    starts = [segment["start"] for segment in segments]
    assert starts == sorted(starts)
    assert starts[0] >= 0 and segments[-1]["end"] <= seconds + 0.5
    for before, after in zip(segments, segments[1:], strict=False):
        shared = min(before["end"], after["end"]) - max(before["start"], after["start"])
        shortest = min(before["end"] - before["start"], after["end"] - after["start"])
        assert shared <= 0.5 * max(shortest, 0.1), (before, after)


def chunk_files(jobs_env: dict[str, str], job_id: str) -> list[Path]:
    root = Path(urlparse(jobs_env["JOBS_STORAGE_URL"]).path)
    return sorted((root / job_id / "chunks").glob("*.pb"))


def test_a_long_recording_is_decoded_in_chunks_and_merged(client, call_recording, jobs_env):
    audio, sentences, seconds = call_recording
    assert seconds >= 60
    job_id = submit_recording(client, audio, '{"language": "en", "word_timestamps": true}')
    job = finished(client, job_id, timeout=600)
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0
    assert len(chunk_files(jobs_env, job_id)) >= 3
    result = job["result"]
    assert result["duration"] == pytest.approx(seconds, abs=0.1)
    assert_every_sentence_heard(sentences, result["text"])
    assert_one_timeline(result["segments"], seconds)
    words = [word for segment in result["segments"] for word in segment["words"]]
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    assert all(w["start"] <= w["end"] for w in words) and words[-1]["end"] <= seconds + 0.5
    assert [segment["id"] for segment in result["segments"]] == list(range(len(result["segments"])))


def test_a_worker_killed_mid_job_finishes_it_once(client, call_recording, jobs_env, jobs_worker):
    audio, sentences, seconds = call_recording
    job_id = submit_recording(client, audio, '{"language": "en"}')
    # The pool child doing the job dies (as on an out-of-memory kill) once a chunk is stored.
    wait_until(
        lambda: len(chunk_files(jobs_env, job_id)) >= 1, "a chunk stored", jobs_worker.process
    )
    children = Path(f"/proc/{jobs_worker.process.pid}/task/{jobs_worker.process.pid}/children")
    (child,) = [int(pid) for pid in children.read_text().split()]
    os.kill(child, signal.SIGKILL)
    job = finished(client, job_id, timeout=600)
    assert job["status"] == "succeeded", job
    assert "Process '" in jobs_worker.log_text() or "WorkerLostError" in jobs_worker.log_text()
    assert_every_sentence_heard(sentences, job["result"]["text"])
    assert_one_timeline(job["result"]["segments"], seconds)
