"""JobService (`paneas.jobs.v1`) on real processes: the jobs service
(`python -m paneas.services.jobs`) beside the module's gateway, on the same Redis, database,
storage and worker (conftest.py), called over real gRPC channels.

A recording over 4 MiB goes up in 1 MiB messages to a service whose message limit is 2 MiB
(one message of the whole file is refused), is transcribed by the worker, and reads the same
through either face; jobs belong to their token on both faces; a call without a valid token
is refused before any message is read; refusals name what is wrong."""

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from paneas.asr.v1 import asr_pb2
from paneas.jobs.v1 import jobs_pb2, jobs_pb2_grpc
from paneas.services.asr.evaluation import SAMPLES, sample_path, wer
from paneas.services.processes import ServiceProcess, free_port, grpc_serving, wait_until
from tests.jobs.conftest import finished
from tests.support.audio import encode_audio, load_float32_16k

JFK = SAMPLES["jfk"].transcript
MiB = 1024 * 1024
# The service's gRPC message limit in this module: a long recording never fits one message.
MESSAGE_LIMIT = 2 * MiB
UPLOAD_LIMIT = 8 * MiB
GRPCURL = str(Path(sys.executable).parent / "grpcurl")
DONE = {
    jobs_pb2.JOB_STATUS_SUCCEEDED,
    jobs_pb2.JOB_STATUS_FAILED,
    jobs_pb2.JOB_STATUS_CANCELLED,
    jobs_pb2.JOB_STATUS_EXPIRED,
}


@pytest.fixture(scope="module")
def job_service(jobs_env, jobs_gateway, asr_service, api_token, other_token, tmp_path_factory):
    """After the gateway, which has migrated the shared database."""
    port = free_port()
    env = {
        **jobs_env,
        "API_TOKENS": f"{api_token},{other_token}",
        "JOBS_GRPC_PORT": str(port),
        "JOBS_GRPC_METRICS_PORT": "0",
        "GATEWAY_ASR_TARGET": asr_service.target,
        "GATEWAY_OCR_TARGET": "",
        "GRPC_MAX_MESSAGE_BYTES": str(MESSAGE_LIMIT),
        "JOBS_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
    }
    log = tmp_path_factory.mktemp("job-service") / "jobs.log"
    service = ServiceProcess("paneas.services.jobs", env, log)
    target = f"127.0.0.1:{port}"
    wait_until(
        lambda: grpc_serving(target, "paneas.jobs.v1.JobService"), "jobs service", service.process
    )
    service.target = target
    yield service
    service.stop()


@pytest.fixture
async def stub(job_service) -> AsyncIterator[jobs_pb2_grpc.JobServiceStub]:
    async with grpc.aio.insecure_channel(job_service.target) as channel:
        yield jobs_pb2_grpc.JobServiceStub(channel)


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def long_recording() -> bytes:
    """JFK's 11 s and 40 s of silence as 48 kHz WAV: 4.9 MB, over 4 MiB."""
    speech = load_float32_16k(sample_path("jfk"))
    audio = np.concatenate([speech, np.zeros(40 * 16000, dtype=np.float32)])
    data = encode_audio(audio, "wav", 48000)
    assert len(data) > 4 * MiB
    return data


def upload(data: bytes, chunk_bytes: int = MiB, **spec: object) -> list[jobs_pb2.CreateJobRequest]:
    """The messages of a CreateJob: the spec, then the file a chunk at a time."""
    spec.setdefault("filename", "call.wav")
    messages = [jobs_pb2.CreateJobRequest(spec=jobs_pb2.JobSpec(**spec))]
    for start in range(0, len(data), chunk_bytes):
        messages.append(jobs_pb2.CreateJobRequest(chunk=data[start : start + chunk_bytes]))
    return messages


async def create(stub, token: str, messages: list[jobs_pb2.CreateJobRequest]) -> jobs_pb2.Job:
    response = await stub.CreateJob(iter(messages), metadata=bearer(token), timeout=60)
    return response.job


async def refusal(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def done(stub, token: str, job_id: str) -> jobs_pb2.Job:
    """The job once it has ended, or as it is after 180 s."""
    deadline = asyncio.get_running_loop().time() + 180
    while True:
        job = (await stub.GetJob(jobs_pb2.GetJobRequest(id=job_id), metadata=bearer(token))).job
        if job.status in DONE or asyncio.get_running_loop().time() > deadline:
            return job
        await asyncio.sleep(0.3)


def english(**options: object) -> jobs_pb2.TranscriptionConfig:
    return jobs_pb2.TranscriptionConfig(language="en", **options)


async def test_a_long_recording_goes_up_in_small_messages_and_reads_the_same_on_both_faces(
    stub, client, api_token
):
    data = long_recording()
    whole = await refusal(
        stub.CreateJob(iter(upload(data, len(data))), metadata=bearer(api_token), timeout=60)
    )
    assert whole.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, whole.details()

    messages = upload(data, transcription=english(word_timestamps=True))
    assert all(message.ByteSize() < MESSAGE_LIMIT for message in messages)
    job = await create(stub, api_token, messages)
    assert job.type == jobs_pb2.JOB_TYPE_TRANSCRIPTION
    assert job.status == jobs_pb2.JOB_STATUS_QUEUED and job.created_at.seconds > 0
    assert job.input.filename == "call.wav" and job.input.bytes == len(data)
    assert not job.input.HasField("duration_seconds")
    assert job.transcription_config.language == "en"
    assert job.transcription_config.vad_filter  # on unless asked otherwise

    job = await done(stub, api_token, job.id)
    assert job.status == jobs_pb2.JOB_STATUS_SUCCEEDED, job
    assert job.progress == 1.0 and job.finished_at.seconds >= job.started_at.seconds > 0
    assert job.input.duration_seconds == pytest.approx(51.0, abs=0.5)
    assert job.WhichOneof("result") == "transcription"
    transcript = job.transcription
    assert isinstance(transcript, asr_pb2.RecognizeResponse)
    assert wer(JFK, transcript.text) < 0.1, transcript.text
    assert all(segment.words for segment in transcript.segments)

    # The REST face shows the same job and renders the same results, byte for byte.
    shown = client.get(f"/api/v1/jobs/{job.id}").json()
    assert shown["status"] == "succeeded" and shown["input"]["bytes"] == len(data)
    assert shown["result"]["text"] == transcript.text.strip()
    for fmt in ("", "json", "verbose_json", "text", "srt", "vtt"):
        result = await stub.GetJobResult(
            jobs_pb2.GetJobResultRequest(id=job.id, format=fmt), metadata=bearer(api_token)
        )
        rest = client.get(f"/api/v1/jobs/{job.id}/result", params={"format": fmt} if fmt else {})
        assert rest.status_code == 200
        assert result.content_type == rest.headers["content-type"], fmt
        assert result.content == rest.text, fmt
    default = await stub.GetJobResult(
        jobs_pb2.GetJobResultRequest(id=job.id), metadata=bearer(api_token)
    )
    assert json.loads(default.content) == shown["result"]


async def test_jobs_belong_to_their_token_and_cancel_then_remove(
    stub, client, api_token, other_token
):
    audio = sample_path("jfk").read_bytes()
    job = await create(stub, api_token, upload(audio, transcription=english()))

    # Another token: as if there were no such job, on either face.
    for call in (
        stub.GetJob(jobs_pb2.GetJobRequest(id=job.id), metadata=bearer(other_token)),
        stub.GetJobResult(jobs_pb2.GetJobResultRequest(id=job.id), metadata=bearer(other_token)),
        stub.CancelJob(jobs_pb2.CancelJobRequest(id=job.id), metadata=bearer(other_token)),
    ):
        error = await refusal(call)
        assert error.code() is grpc.StatusCode.NOT_FOUND
        assert error.details() == f"no job {job.id!r}"
    theirs = await stub.ListJobs(jobs_pb2.ListJobsRequest(), metadata=bearer(other_token))
    assert job.id not in [listed.id for listed in theirs.data]

    # The owner lists it, newest first, on both faces.
    mine = await stub.ListJobs(jobs_pb2.ListJobsRequest(limit=1), metadata=bearer(api_token))
    assert [listed.id for listed in mine.data] == [job.id] and mine.last_id == job.id
    assert not mine.data[0].HasField("transcription")  # listings carry no results
    assert client.get("/api/v1/jobs", params={"limit": 1}).json()["data"][0]["id"] == job.id

    cancel = jobs_pb2.CancelJobRequest(id=job.id)
    cancelled = await stub.CancelJob(cancel, metadata=bearer(api_token))
    # Cancelled while queued or running; removed if the worker was quicker.
    if not cancelled.removed:
        assert cancelled.job.status == jobs_pb2.JOB_STATUS_CANCELLED
        assert cancelled.job.finished_at.seconds > 0
        cancelled_only = jobs_pb2.ListJobsRequest(status="cancelled")
        listed = await stub.ListJobs(cancelled_only, metadata=bearer(api_token))
        assert job.id in [each.id for each in listed.data]
        early = await refusal(
            stub.GetJobResult(jobs_pb2.GetJobResultRequest(id=job.id), metadata=bearer(api_token))
        )
        assert early.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "is cancelled" in early.details()
        again = await stub.CancelJob(cancel, metadata=bearer(api_token))
        assert again.removed and not again.HasField("job")
    gone = await refusal(stub.GetJob(jobs_pb2.GetJobRequest(id=job.id), metadata=bearer(api_token)))
    assert gone.code() is grpc.StatusCode.NOT_FOUND
    assert client.get(f"/api/v1/jobs/{job.id}").status_code == 404


async def test_an_idempotency_key_gives_the_same_job_on_both_faces(stub, client, api_token):
    audio = sample_path("jfk").read_bytes()
    messages = upload(audio, transcription=english(), idempotency_key="grpc-retry-1")
    first = await create(stub, api_token, messages)
    assert (await create(stub, api_token, messages)).id == first.id
    # The key needs no upload to answer: the spec alone gets the job back.
    assert (await create(stub, api_token, messages[:1])).id == first.id
    rest = client.post(
        "/api/v1/jobs",
        headers={"Idempotency-Key": "grpc-retry-1"},
        files={"file": ("call.wav", audio)},
    )
    assert rest.status_code == 202 and rest.json()["id"] == first.id
    finished(client, first.id)


async def test_a_call_without_a_valid_token_is_refused_before_any_message_is_read(
    stub, other_token
):
    # A chunk first would be INVALID_ARGUMENT if anything read it.
    garbage = [jobs_pb2.CreateJobRequest(chunk=b"x" * 1024) for _ in range(4)]
    for metadata in ((), bearer("not-a-valid-token-0123456789")):
        error = await refusal(stub.CreateJob(iter(garbage), metadata=metadata, timeout=10))
        assert error.code() is grpc.StatusCode.UNAUTHENTICATED, error.details()
        error = await refusal(
            stub.GetJob(jobs_pb2.GetJobRequest(id="x"), metadata=metadata, timeout=10)
        )
        assert error.code() is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("spec", "chunks", "message"),
    [
        (
            {"transcription": english(temperature=3)},
            [b"RIFF"],
            "invalid config: temperature: Input should be less than or equal to 1",
        ),
        ({"transcription": english(beam_size=65)}, [b"RIFF"], "invalid config: beam_size"),
        ({"transcription": english(task=9)}, [b"RIFF"], "invalid config: task: 9"),
        (
            {"type": jobs_pb2.JOB_TYPE_TRANSCRIPTION, "ocr": jobs_pb2.OcrConfig(dpi=300)},
            [b"RIFF"],
            "config: a job of type 'transcription' takes `transcription`, not `ocr`",
        ),
        (
            {"type": jobs_pb2.JOB_TYPE_OCR},
            [b"%PDF"],
            "type 'ocr' needs the OCR service, which this gateway does not reach "
            "(GATEWAY_OCR_TARGET is empty)",
        ),
        ({"webhook_url": "ftp://example.com/hook"}, [b"RIFF"], "is not an http(s) URL"),
        ({"idempotency_key": "k" * 256}, [b"RIFF"], "longer than 255 characters"),
        ({}, [], "the uploaded file is empty"),
    ],
)
async def test_bad_requests_are_invalid_argument_naming_what_is_wrong(
    stub, api_token, other_token, spec, chunks, message
):
    messages = [jobs_pb2.CreateJobRequest(spec=jobs_pb2.JobSpec(**spec))]
    messages += [jobs_pb2.CreateJobRequest(chunk=chunk) for chunk in chunks]
    error = await refusal(stub.CreateJob(iter(messages), metadata=bearer(other_token)))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.details()
    listed = await stub.ListJobs(jobs_pb2.ListJobsRequest(), metadata=bearer(other_token))
    assert list(listed.data) == []


async def test_the_stream_must_start_with_the_spec_and_stay_under_the_upload_limit(
    stub, other_token
):
    chunk = jobs_pb2.CreateJobRequest(chunk=b"RIFF")
    spec = jobs_pb2.CreateJobRequest(spec=jobs_pb2.JobSpec())
    for messages, words in (
        ([chunk], "the first message must carry `spec`"),
        ([], "the first message must carry `spec`"),
        ([spec, chunk, spec], "only the first message may carry `spec`"),
    ):
        error = await refusal(stub.CreateJob(iter(messages), metadata=bearer(other_token)))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert words in error.details()

    too_big = upload(b"\0" * (UPLOAD_LIMIT + 1))
    error = await refusal(stub.CreateJob(iter(too_big), metadata=bearer(other_token)))
    assert error.code() is grpc.StatusCode.OUT_OF_RANGE
    assert f"limit of {UPLOAD_LIMIT} bytes (JOBS_MAX_UPLOAD_BYTES)" in error.details()
    listed = await stub.ListJobs(jobs_pb2.ListJobsRequest(), metadata=bearer(other_token))
    assert list(listed.data) == []


async def test_list_and_result_refuse_what_they_cannot_take(stub, api_token):
    for request, words in (
        (jobs_pb2.ListJobsRequest(status="finished"), "status: 'finished' is not one of"),
        (jobs_pb2.ListJobsRequest(limit=101), "limit: 101 is not between 1 and 100"),
        (jobs_pb2.ListJobsRequest(after="no-such-job"), "after: no job 'no-such-job'"),
    ):
        error = await refusal(stub.ListJobs(request, metadata=bearer(api_token)))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert words in error.details()
    audio = sample_path("jfk").read_bytes()
    job = await create(stub, api_token, upload(audio, transcription=english()))
    error = await refusal(
        stub.GetJobResult(
            jobs_pb2.GetJobResultRequest(id=job.id, format="docx"), metadata=bearer(api_token)
        )
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "format 'docx' is not available for a job of type 'transcription'" in error.details()
    await done(stub, api_token, job.id)


async def test_health_and_reflection_as_every_service(job_service, api_token):
    async with grpc.aio.insecure_channel(job_service.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", "paneas.jobs.v1.JobService"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING

    def grpcurl(*args: str, data: str | None = None) -> subprocess.CompletedProcess:
        options = ["-H", f"authorization: Bearer {api_token}"] + (["-d", data] if data else [])
        return subprocess.run(
            [GRPCURL, "-plaintext", *options, job_service.target, *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    listed = grpcurl("list")
    assert listed.returncode == 0, listed.stderr
    assert "paneas.jobs.v1.JobService" in listed.stdout.split()
    described = grpcurl("describe", "paneas.jobs.v1.JobService")
    assert described.returncode == 0, described.stderr
    assert (
        "rpc CreateJob ( stream .paneas.jobs.v1.CreateJobRequest ) returns "
        "( .paneas.jobs.v1.CreateJobResponse )" in described.stdout
    )
    message = grpcurl("describe", "paneas.jobs.v1.Job")
    assert message.returncode == 0, message.stderr
    assert ".paneas.asr.v1.RecognizeResponse transcription" in message.stdout
    called = grpcurl("paneas.jobs.v1.JobService/ListJobs", data='{"limit": 1}')
    assert called.returncode == 0, called.stderr
    assert isinstance(json.loads(called.stdout), dict)
