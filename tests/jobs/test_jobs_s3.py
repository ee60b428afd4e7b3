"""Jobs on S3-compatible storage, against a real S3-protocol server (moto's, a child process):
the storage contract (streamed multipart uploads, nothing left by a failed write, paginated
deletes), a job end to end through the real worker with its files in the bucket, and the
store going down under a queued job."""

import asyncio
import uuid

import pytest

from paneas.gateway.jobs import storage as storage_module
from paneas.gateway.jobs.settings import JobsSettings
from paneas.gateway.jobs.storage import S3Storage, StorageUnavailable, open_storage
from paneas.services.asr.evaluation import SAMPLES, wer
from paneas.services.processes import free_port
from paneas.services.runtime.settings import InsecureSecret
from tests.jobs.conftest import finished, jobs_worker_env, start_jobs_worker, submit
from tests.support.s3_server import S3Server

MIB = 1024 * 1024
PART = 5 * MIB  # the smallest part S3 (and moto) accepts


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3"))
    yield server
    server.kill()


@pytest.fixture(scope="module")
def jobs_env(jobs_redis, s3_server, tmp_path_factory) -> dict[str, str]:
    state = tmp_path_factory.mktemp("jobs-state")
    return {
        "JOBS_ENABLED": "true",
        "JOBS_BROKER_URL": jobs_redis.url,
        **s3_server.env(prefix="jobs"),
        "DATABASE_URL": f"sqlite:///{state}/gateway.db",
        "JOBS_PROGRESS_INTERVAL_SECONDS": "0.2",
        # The store's outage test waits out every retry: short ones.
        "JOBS_RETRY_SECONDS": "0.5",
        "JOBS_S3_MAX_ATTEMPTS": "2",
    }


def s3_storage(server: S3Server, **settings: object) -> S3Storage:
    """A storage on the server's bucket under a prefix of its own (tests do not meet)."""
    values = {
        "storage_url": f"s3://{server.bucket}/t-{uuid.uuid4().hex[:8]}",
        "s3_endpoint_url": server.endpoint_url,
        "s3_access_key_id": server.access_key_id,
        "s3_secret_access_key": server.secret_access_key,
        **settings,
    }
    storage = open_storage(JobsSettings(**values))
    assert isinstance(storage, S3Storage)
    return storage


async def megabytes(count: int, fill: int = 0):
    for index in range(count):
        yield bytes([(fill + index) % 256]) * MIB


def test_s3_credentials_are_refused_when_placeholders_or_short():
    with pytest.raises(InsecureSecret, match="JOBS_S3_SECRET_ACCESS_KEY holds a placeholder"):
        JobsSettings(s3_secret_access_key="change-me-minio-password")
    with pytest.raises(InsecureSecret, match="JOBS_S3_SECRET_ACCESS_KEY holds a value of 6"):
        JobsSettings(s3_secret_access_key="secret")
    with pytest.raises(InsecureSecret, match="JOBS_S3_ACCESS_KEY_ID holds a placeholder"):
        JobsSettings(s3_access_key_id="change-me-minio-user")
    # Both empty: boto3's own credential chain (an IAM role); the secrets stay out of reprs.
    settings = JobsSettings(s3_access_key_id="AKIDPANEASTEST", s3_secret_access_key="x" * 40)
    assert "x" * 40 not in repr(settings) and "AKIDPANEASTEST" not in repr(settings)
    with pytest.raises(ValueError, match="greater than or equal to 5242880"):
        JobsSettings(s3_part_bytes=MIB)


@pytest.mark.slow
async def test_s3_storage_writes_reads_replaces_and_deletes(s3_server):
    storage = s3_storage(s3_server)

    async def chunks(*parts: bytes):
        for part in parts:
            yield part

    assert await storage.write("job/input", chunks(b"abc", b"def")) == 6
    assert await storage.read("job/input") == b"abcdef"
    assert await storage.write("job/input", chunks(b"new")) == 3  # replaces
    assert await storage.read("job/input") == b"new"
    await storage.write("job/result.pb", chunks(b"result"))
    # A job whose id begins with the other's is not under its prefix.
    await storage.write("job2/input", chunks(b"other"))
    prefix = storage.prefix
    assert s3_server.keys(prefix) == [
        f"{prefix}job/input",
        f"{prefix}job/result.pb",
        f"{prefix}job2/input",
    ]
    with pytest.raises(FileNotFoundError, match="no object"):
        await storage.read("job/missing")
    with pytest.raises(ValueError, match="outside the storage prefix"):
        await storage.write("../escape", chunks(b"x"))
    await storage.delete_prefix("job")
    await storage.delete_prefix("job")  # nothing there: fine
    assert s3_server.keys(prefix) == [f"{prefix}job2/input"]


@pytest.mark.slow
async def test_s3_upload_streams_in_parts(s3_server):
    storage = s3_storage(s3_server, s3_part_bytes=PART)
    client = s3_server.client()
    seen_while_streaming = []

    async def recording():
        # 12 MiB: parts of 5, 5 and 2 MiB. Before the last megabyte the first two parts are
        # already in the store, and no object exists yet.
        async for chunk in megabytes(11):
            yield chunk
        uploads = await asyncio.to_thread(
            client.list_multipart_uploads, Bucket=s3_server.bucket, Prefix=storage.prefix
        )
        (upload,) = uploads["Uploads"]
        parts = await asyncio.to_thread(
            client.list_parts,
            Bucket=s3_server.bucket,
            Key=upload["Key"],
            UploadId=upload["UploadId"],
        )
        seen_while_streaming.append([part["Size"] for part in parts["Parts"]])
        seen_while_streaming.append(s3_server.keys(storage.prefix))
        yield b"\xff" * MIB

    assert await storage.write("job/input", recording()) == 12 * MIB
    assert seen_while_streaming == [[PART, PART], []]
    head = client.head_object(Bucket=s3_server.bucket, Key=f"{storage.prefix}job/input")
    assert head["ContentLength"] == 12 * MIB
    assert head["ETag"].strip('"').endswith("-3")  # completed from three parts
    expected = b"".join([bytes([index]) * MIB for index in range(11)]) + b"\xff" * MIB
    assert await storage.read("job/input") == expected


@pytest.mark.slow
async def test_a_failed_write_leaves_no_key_and_no_upload(s3_server):
    storage = s3_storage(s3_server, s3_part_bytes=PART)
    client = s3_server.client()

    async def broken(count: int):
        async for chunk in megabytes(count):
            yield chunk
        raise OSError("the client went away")

    # After a part was uploaded (a multipart upload in progress) ...
    with pytest.raises(OSError, match="went away"):
        await storage.write("job/input", broken(7))
    # ... and before any (one PUT would have been made at the end).
    with pytest.raises(OSError, match="went away"):
        await storage.write("job/result.pb", broken(1))
    assert s3_server.keys(storage.prefix) == []
    uploads = client.list_multipart_uploads(Bucket=s3_server.bucket, Prefix=storage.prefix)
    assert not uploads.get("Uploads"), "the multipart upload was not aborted"
    # A failed write over an existing key leaves the old object whole.
    await storage.write("job/input", megabytes(1, fill=7))
    with pytest.raises(OSError):
        await storage.write("job/input", broken(6))
    assert await storage.read("job/input") == bytes([7]) * MIB


@pytest.mark.slow
async def test_delete_prefix_goes_through_every_page(s3_server, monkeypatch):
    # S3 lists and deletes at most 1000 keys a request; two per page here, for 7 keys.
    monkeypatch.setattr(storage_module, "_S3_DELETE_BATCH", 2)
    storage = s3_storage(s3_server)

    async def one():
        yield b"x"

    for index in range(7):
        await storage.write(f"job/chunk-{index}", one())
    await storage.write("other/input", one())
    await storage.delete_prefix("job")
    assert s3_server.keys(storage.prefix) == [f"{storage.prefix}other/input"]


@pytest.mark.slow
async def test_an_unreachable_store_is_unavailable_with_its_name():
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    storage = open_storage(
        JobsSettings(
            storage_url="s3://paneas-jobs/jobs",
            s3_endpoint_url=endpoint,
            s3_access_key_id="paneas",
            s3_secret_access_key="x" * 40,
            s3_max_attempts=1,
        )
    )

    async def one():
        yield b"x"

    for attempt in (storage.write("job/input", one()), storage.read("job/input")):
        with pytest.raises(StorageUnavailable) as raised:
            await attempt
        assert f"the object store s3://paneas-jobs/jobs/ at {endpoint} is unavailable" in str(
            raised.value
        )


def test_a_job_is_stored_in_the_bucket_and_deleted_from_it(client, s3_server):
    created = submit(client, '{"language": "en"}')
    job = finished(client, created["id"])
    assert job["status"] == "succeeded", job
    assert wer(SAMPLES["jfk"].transcript, job["result"]["text"]) < 0.1
    text = client.get(f"/api/v1/jobs/{job['id']}/result", params={"format": "text"})
    assert text.status_code == 200 and wer(SAMPLES["jfk"].transcript, text.text) < 0.1
    prefix = f"jobs/{job['id']}/"
    # (and whatever the worker keeps of the job's pieces beside them)
    assert {f"{prefix}input", f"{prefix}result.pb"} <= set(s3_server.keys(prefix))
    assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 204
    assert s3_server.keys(prefix) == []


def test_a_job_fails_after_retries_when_the_store_is_down(
    client, jobs_env, jobs_worker, s3_server, asr_service, api_token, tmp_path_factory
):
    # Last in the module: it stops the module's worker. The job is queued while no worker
    # runs (its input is stored), then the store dies and a worker takes the job.
    jobs_worker.stop()
    created = submit(client)
    s3_server.kill()
    env = jobs_worker_env(jobs_env, asr_service.target, api_token)
    worker = start_jobs_worker(env, tmp_path_factory.mktemp("jobs-worker-s3-down"))
    try:
        job = finished(client, created["id"], timeout=120)
        assert job["status"] == "failed", job
        assert job["error"]["code"] == "storage_unavailable"
        endpoint = s3_server.endpoint_url
        assert job["error"]["message"].startswith(
            f"the object store s3://{s3_server.bucket}/jobs/ at {endpoint} is unavailable: "
        ), job["error"]
        assert job["result"] is None and job["progress"] < 1.0
        # Tried again (JOBS_RETRY_SECONDS) before failing.
        assert worker.log_text().count("job retried") == 5, worker.log_text()[-3000:]
        answer = client.get(f"/api/v1/jobs/{created['id']}/result")
        assert answer.status_code == 409 and "is failed" in answer.json()["message"]
        # Nowhere to keep an upload: refused at once, and nothing recorded.
        refused = client.post("/api/v1/jobs", files={"file": ("a.wav", b"RIFF....")})
        assert refused.status_code == 503, refused.text
        assert refused.json()["message"].startswith(
            f"the jobs storage is unavailable, try again: the object store s3://{s3_server.bucket}"
        )
        listed = client.get("/api/v1/jobs").json()["data"]
        assert [job["id"] for job in listed if job["status"] == "queued"] == []
        # Deleting a finished job needs its files gone first: refused, the record kept.
        deleted = client.delete(f"/api/v1/jobs/{created['id']}")
        assert deleted.status_code == 503, deleted.text
        assert deleted.json()["message"].startswith("the jobs storage is unavailable, try again")
        assert client.get(f"/api/v1/jobs/{created['id']}").status_code == 200
    finally:
        worker.stop()
        s3_server.start()
