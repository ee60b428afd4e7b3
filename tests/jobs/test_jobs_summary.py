"""`summary: true` on a transcription job (gateway/jobs/summary.py): the finished transcript
is summarised by the suite's real LLM service (SmolLM2-135M on llama.cpp) with the live
streams' insights prompt; with the worker's LLM target on a closed port the job still
succeeds, with its transcript and `summary_error`."""

import pytest

from paneas.services.asr.evaluation import SAMPLES, wer
from paneas.services.processes import free_port
from tests.jobs.conftest import finished, jobs_worker_env, start_jobs_worker, submit

JFK = SAMPLES["jfk"].transcript
SUMMARY = '{"language": "en", "summary": true}'


@pytest.fixture(scope="module")
def workers(jobs_env, asr_service, llm_service, api_token, tmp_path_factory):
    """The live worker last; the first reaches the suite's LLM service."""
    env = {
        **jobs_worker_env(jobs_env, asr_service.target, api_token),
        "GATEWAY_LLM_TARGET": llm_service.target,
    }
    started = [start_jobs_worker(env, tmp_path_factory.mktemp("worker"))]
    yield started
    for worker in started:
        worker.stop()


@pytest.fixture(scope="module")
def jobs_worker(workers):
    return workers[0]


def test_a_transcript_is_summarised_by_the_llm(client):
    job = finished(client, submit(client, SUMMARY)["id"])
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert wer(JFK, result["text"]) < 0.1
    assert result["summary"].strip() and "summary_error" not in result, result
    assert result["summary"] != result["text"]
    # The rendered result carries it too; a job that did not ask has none.
    assert client.get(f"/api/v1/jobs/{job['id']}/result").json()["summary"] == result["summary"]
    plain = finished(client, submit(client)["id"])
    assert "summary" not in plain["result"] and "summary_error" not in plain["result"]


def test_without_the_llm_the_job_succeeds_with_a_summary_error(
    client, workers, jobs_env, asr_service, api_token, tmp_path_factory
):
    workers[-1].stop()
    closed = f"127.0.0.1:{free_port()}"
    env = {
        **jobs_worker_env(jobs_env, asr_service.target, api_token),
        "GATEWAY_LLM_TARGET": closed,
        "JOBS_SUMMARY_TIMEOUT_SECONDS": "5",
    }
    workers.append(start_jobs_worker(env, tmp_path_factory.mktemp("worker")))
    job = finished(client, submit(client, SUMMARY)["id"])
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert wer(JFK, result["text"]) < 0.1 and "summary" not in result
    error = result["summary_error"]
    assert error["code"] in {"unavailable", "deadline_exceeded"}, error
    assert error["message"].startswith(f"the LLM service at {closed} gave no summary: "), error
