"""Jobs end to end on real processes: Redis, one worker, the suite's ASR service and a
gateway of this module's own with jobs on (the fixtures in conftest.py), files stored in a
local folder."""

import time

import httpx
import numpy as np
import pytest

from paneas.services.asr.evaluation import SAMPLES, sample_path, wer
from paneas.services.processes import wait_until
from tests.jobs.conftest import finished, submit
from tests.support.audio import call_recording, encode_audio, load_float32_16k

JFK = SAMPLES["jfk"].transcript


def test_a_recording_is_transcribed_and_rendered(client, jobs_gateway, other_token):
    created = submit(client, '{"language": "en", "word_timestamps": true}')
    job = finished(client, created["id"])
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0 and job["started_at"] and job["finished_at"]
    assert job["input"]["duration_seconds"] == pytest.approx(11.0, abs=0.5)
    result = job["result"]
    assert wer(JFK, result["text"]) < 0.1, result["text"]
    assert result["language"] == "en" and result["duration"] == pytest.approx(11.0, abs=0.5)
    assert result["segments"] and all(segment["words"] for segment in result["segments"])

    def rendered(fmt: str) -> httpx.Response:
        answer = client.get(f"/api/v1/jobs/{job['id']}/result", params={"format": fmt})
        assert answer.status_code == 200, answer.text
        return answer

    assert wer(JFK, rendered("text").text) < 0.1
    assert rendered("json").json() == {"text": result["text"]}
    assert rendered("verbose_json").json() == result
    assert "00:00:00,000 --> " in rendered("srt").text
    assert rendered("vtt").text.startswith("WEBVTT\n\n00:00:00.000 --> ")

    listed = client.get("/api/v1/jobs", params={"status": "succeeded"}).json()["data"]
    assert job["id"] in [item["id"] for item in listed]

    stranger = {"Authorization": f"Bearer {other_token}"}
    for path in (f"/api/v1/jobs/{job['id']}", f"/api/v1/jobs/{job['id']}/result"):
        assert client.get(path, headers=stranger).status_code == 404


def test_a_stereo_call_is_transcribed_channel_by_channel(client):
    # Kennedy on the left starts while Beckett, on the right, is between two sentences.
    call = call_recording([("jfk", 3.0), ("beckett", 0.0)])
    answer = client.post(
        "/api/v1/jobs",
        files={"file": ("call.wav", call)},
        data={"config": '{"language": "en", "multichannel": true}'},
    )
    assert answer.status_code == 202, answer.text
    job = finished(client, answer.json()["id"])
    assert job["status"] == "succeeded", job
    segments = job["result"]["segments"]

    def text(channel: int) -> str:
        return " ".join(segment["text"] for segment in segments if segment["channel"] == channel)

    assert {segment["channel"] for segment in segments} == {0, 1}
    assert wer(JFK, text(0)) <= 0.1 and wer(SAMPLES["beckett"].transcript, text(1)) <= 0.2
    starts = [segment["start"] for segment in segments]
    assert starts == sorted(starts) and segments[0]["channel"] == 1
    rendered = client.get(f"/api/v1/jobs/{job['id']}/result").json()
    assert rendered["segments"] == segments
    # A job without multichannel shows no channel.
    plain = finished(client, submit(client)["id"])
    assert all("channel" not in segment for segment in plain["result"]["segments"])


def test_bad_config_is_400(client):
    answer = client.post(
        "/api/v1/jobs", files={"file": ("a.wav", b"RIFF")}, data={"config": "{language"}
    )
    assert answer.status_code == 400 and "not valid JSON" in answer.json()["message"]


def test_cancelling_a_running_job_stops_it(client, jobs_worker):
    # A minute of speech: long enough to be caught running.
    audio = encode_audio(np.tile(load_float32_16k(sample_path("jfk")), 6), "wav")
    answer = client.post("/api/v1/jobs", files={"file": ("long.wav", audio)})
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["id"]
    wait_until(
        lambda: client.get(f"/api/v1/jobs/{job_id}").json()["status"] == "running",
        "the job running",
        jobs_worker.process,
        timeout=60,
    )
    cancelled = client.delete(f"/api/v1/jobs/{job_id}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    wait_until(
        lambda: (
            "job cancelled while running" in jobs_worker.log_text()
            and job_id in jobs_worker.log_text()
        ),
        "the worker giving the job up",
        jobs_worker.process,
        timeout=30,
    )
    assert client.get(f"/api/v1/jobs/{job_id}").json()["status"] == "cancelled"


def test_a_cancelled_queued_job_never_runs(client):
    # One worker, one job at a time: the second waits behind the first.
    first, second = submit(client), submit(client)
    cancelled = client.delete(f"/api/v1/jobs/{second['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert finished(client, first["id"])["status"] == "succeeded"
    # Long enough for the worker to have taken the cancelled job's task, had it run it.
    time.sleep(2)
    job = client.get(f"/api/v1/jobs/{second['id']}").json()
    assert job["status"] == "cancelled" and job["started_at"] is None
    assert client.get(f"/api/v1/jobs/{second['id']}/result").status_code == 409
