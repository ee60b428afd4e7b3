"""The jobs API in process: the real app on a SQLite file, file storage in a temporary
folder and Celery's in-memory broker (no worker: jobs stay queued). What a worker does is in
test_jobs_slow.py."""

import json

import pytest
from fastapi.testclient import TestClient

from paneas.gateway.app import create_app
from paneas.gateway.jobs.protocol import OcrConfig, TranscriptionConfig
from paneas.gateway.jobs.settings import JobsSettings
from paneas.gateway.jobs.storage import FileStorage, open_storage
from paneas.gateway.settings import GatewaySettings
from paneas.ocr.v1 import ocr_pb2
from paneas.services.launcher import jobs_components
from paneas.services.runtime.settings import RuntimeSettings

OWNER = "jobs-owner-token-0123456789"
STRANGER = "jobs-stranger-token-0123456789"
MAX_UPLOAD = 4096


@pytest.fixture
def client(tmp_path, monkeypatch) -> TestClient:
    yield from jobs_client(
        tmp_path, monkeypatch, asr_target="127.0.0.1:1", ocr_target="127.0.0.1:1"
    )


def jobs_client(tmp_path, monkeypatch, asr_target: str, ocr_target: str):
    monkeypatch.setenv("JOBS_ENABLED", "true")
    monkeypatch.setenv("JOBS_BROKER_URL", "memory://")
    monkeypatch.setenv("JOBS_STORAGE_URL", (tmp_path / "storage").as_uri())
    monkeypatch.setenv("JOBS_MAX_UPLOAD_BYTES", str(MAX_UPLOAD))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/gateway.db")
    monkeypatch.setenv("ANALYTICS_ENABLED", "false")
    app = create_app(
        GatewaySettings(asr_target=asr_target, ocr_target=ocr_target, llm_target=""),
        RuntimeSettings(api_tokens=[OWNER, STRANGER]),
    )
    with TestClient(app) as client:
        client.storage_root = tmp_path / "storage"
        yield client


def headers(token: str = OWNER) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create(client: TestClient, audio: bytes = b"RIFF....WAVE", **form: str):
    return client.post(
        "/api/v1/jobs", headers=headers(), files={"file": ("call.wav", audio)}, data=form
    )


def test_a_job_is_queued_and_belongs_to_its_token(client):
    answer = create(client, config=json.dumps({"language": "en", "hotwords": "Paneas, Envoy"}))
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["type"] == "transcription" and job["status"] == "queued"
    assert job["progress"] == 0.0 and job["created_at"].endswith("Z")
    assert job["input"] == {"filename": "call.wav", "bytes": 12, "duration_seconds": None}
    assert job["config"]["hotwords"] == ["Paneas", "Envoy"]
    assert (client.storage_root / job["id"] / "input").read_bytes() == b"RIFF....WAVE"

    assert client.get(f"/api/v1/jobs/{job['id']}", headers=headers()).json() == job
    foreign = client.get(f"/api/v1/jobs/{job['id']}", headers=headers(STRANGER))
    assert foreign.status_code == 404
    assert foreign.json()["message"] == f"no job {job['id']!r}"
    assert client.delete(f"/api/v1/jobs/{job['id']}", headers=headers(STRANGER)).status_code == 404
    assert client.get("/api/v1/jobs", headers=headers(STRANGER)).json()["data"] == []

    early = client.get(f"/api/v1/jobs/{job['id']}/result", headers=headers())
    assert early.status_code == 409 and "queued" in early.json()["message"]


def test_an_idempotency_key_gives_the_same_job_to_the_same_token(client):
    def post(token: str, key: str):
        return client.post(
            "/api/v1/jobs",
            headers={**headers(token), "Idempotency-Key": key},
            files={"file": ("call.wav", b"RIFF....WAVE")},
        )

    first = post(OWNER, "retry-1")
    assert first.status_code == 202
    assert post(OWNER, "retry-1").json() == first.json()
    assert post(OWNER, "retry-2").json()["id"] != first.json()["id"]
    assert post(STRANGER, "retry-1").json()["id"] != first.json()["id"]
    assert len(client.get("/api/v1/jobs", headers=headers()).json()["data"]) == 2


def test_listing_is_newest_first_and_pages(client):
    ids = [create(client).json()["id"] for _ in range(3)]
    page = client.get("/api/v1/jobs?limit=2", headers=headers()).json()
    assert [job["id"] for job in page["data"]] == ids[::-1][:2]
    assert page["has_more"] is True and page["last_id"] == ids[1]
    rest = client.get(f"/api/v1/jobs?limit=2&after={ids[1]}", headers=headers()).json()
    assert [job["id"] for job in rest["data"]] == [ids[0]] and rest["has_more"] is False
    assert client.get("/api/v1/jobs?status=succeeded", headers=headers()).json()["data"] == []


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"config": "{not json"}, "config is not valid JSON"),
        ({"config": "[1]"}, "config must be a JSON object"),
        ({"config": '{"langauge": "en"}'}, "invalid config: langauge: Extra inputs"),
        ({"config": '{"temperature": 3}'}, "invalid config: temperature"),
        ({"type": "poetry"}, "unknown job type 'poetry'; use 'transcription' or 'ocr'"),
        ({"type": "ocr", "config": '{"language": "en"}'}, "invalid config: language: Extra"),
        ({"type": "ocr", "config": '{"password": "x"}'}, "invalid config: password: Extra"),
        (
            {"type": "ocr", "config": '{"pages": "3-1"}'},
            "invalid config: pages: `pages` range '3-1' is empty or starts below 1",
        ),
        ({"type": "ocr", "config": '{"dpi": 900}'}, "invalid config: dpi"),
        ({"type": "ocr", "config": '{"engine": "easyocr"}'}, "invalid config: engine"),
        ({"config": '{"multichannel": "sometimes"}'}, "invalid config: multichannel"),
        ({"webhook_url": "ftp://example.com"}, "is not an http(s) URL"),
    ],
)
def test_bad_requests_are_400_and_leave_nothing(client, form, message):
    answer = create(client, **form)
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["message"]
    assert answer.json()["code"] == 3  # INVALID_ARGUMENT
    assert client.get("/api/v1/jobs", headers=headers()).json()["data"] == []


def test_an_upload_over_the_limit_is_413_naming_it(client):
    answer = create(client, audio=b"x" * (MAX_UPLOAD + 1))
    assert answer.status_code == 413
    assert f"limit of {MAX_UPLOAD} bytes (JOBS_MAX_UPLOAD_BYTES)" in answer.json()["message"]


def test_an_empty_upload_is_400(client):
    answer = create(client, audio=b"")
    assert answer.status_code == 400 and "empty" in answer.json()["message"]


def test_cancelling_a_queued_job_deletes_its_input_then_delete_removes_it(client):
    job = create(client).json()
    cancelled = client.delete(f"/api/v1/jobs/{job['id']}", headers=headers())
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["finished_at"]
    assert not (client.storage_root / job["id"]).exists()
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=headers()).json()["status"] == (
        "cancelled"
    )
    assert client.delete(f"/api/v1/jobs/{job['id']}", headers=headers()).status_code == 204
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=headers()).status_code == 404


def test_an_ocr_job_is_queued_with_the_ocr_routes_options(client):
    config = {"languages": "pt, en", "engine": "tesseract", "pages": "2-3,5", "dpi": 150}
    answer = client.post(
        "/api/v1/jobs",
        headers=headers(),
        files={"file": ("scan.pdf", b"%PDF-1.4 ...")},
        data={"type": "ocr", "config": json.dumps(config)},
    )
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["type"] == "ocr" and job["status"] == "queued"
    assert job["config"] == {
        "languages": ["pt", "en"],
        "engine": "tesseract",
        "pages": "2-3,5",
        "dpi": 150,
        "text_layer": "auto",
    }
    parsed = OcrConfig.model_validate(job["config"])
    assert parsed.first_page() == 2 and OcrConfig().first_page() == 1
    request = parsed.request(b"%PDF", "2")
    assert request.pages == "2" and list(request.languages) == ["pt", "en"]
    assert request.engine == ocr_pb2.ENGINE_TESSERACT and request.dpi == 150
    # Not run (no worker): its result formats are still checked first.
    srt = client.get(f"/api/v1/jobs/{job['id']}/result?format=srt", headers=headers())
    assert srt.status_code == 400
    assert srt.json()["message"] == (
        "format 'srt' is not available for a job of type 'ocr'; use one of json, text"
    )
    assert client.get(f"/api/v1/jobs/{job['id']}/result", headers=headers()).status_code == 409


@pytest.mark.parametrize(
    ("asr_target", "ocr_target", "job_type", "setting"),
    [("127.0.0.1:1", "", "ocr", "OCR"), ("", "127.0.0.1:1", "transcription", "ASR")],
)
def test_a_type_whose_service_is_not_reached_is_400(
    tmp_path, monkeypatch, asr_target, ocr_target, job_type, setting
):
    for client in jobs_client(tmp_path, monkeypatch, asr_target, ocr_target):
        answer = create(client, type=job_type)
        assert answer.status_code == 400
        assert f"GATEWAY_{setting}_TARGET is empty" in answer.json()["message"]


def test_config_defaults_skip_silence():
    config = TranscriptionConfig().recognition_config()
    assert config.vad_filter is True and config.word_timestamps is False
    assert config.multichannel is False
    assert TranscriptionConfig(multichannel=True).recognition_config().multichannel is True


async def test_file_storage_streams_and_leaves_no_partial_file(tmp_path):
    storage = open_storage(JobsSettings(storage_url=(tmp_path / "jobs").as_uri()))
    assert isinstance(storage, FileStorage)

    async def chunks():
        yield b"abc"
        yield b"def"

    assert await storage.write("job/input", chunks()) == 6
    assert await storage.read("job/input") == b"abcdef"

    async def failing():
        yield b"partial"
        raise OSError("client went away")

    with pytest.raises(OSError):
        await storage.write("job/result.pb", failing())
    assert sorted(path.name for path in (tmp_path / "jobs" / "job").iterdir()) == ["input"]
    with pytest.raises(ValueError, match="outside the storage root"):
        await storage.write("../escape", chunks())
    await storage.delete_prefix("job")
    await storage.delete_prefix("job")  # nothing there: fine
    assert not (tmp_path / "jobs" / "job").exists()


def test_storage_urls_name_a_folder_or_a_bucket():
    with pytest.raises(ValueError, match=r"use file:///absolute/folder or s3://bucket\[/prefix\]"):
        open_storage(JobsSettings(storage_url="gs://bucket/jobs"))
    with pytest.raises(ValueError, match="name the bucket"):
        open_storage(JobsSettings(storage_url="s3:///jobs"))


def test_the_embedded_stack_starts_redis_on_loopback_and_one_worker(monkeypatch):
    for name in ("JOBS_ENABLED", "JOBS_BROKER_URL", "JOBS_REDIS_PORT"):
        monkeypatch.delenv(name, raising=False)
    env: dict[str, str] = {}
    redis, worker = jobs_components(env)
    port = redis.port
    assert env["JOBS_ENABLED"] == "true"
    assert env["JOBS_BROKER_URL"] == f"redis://127.0.0.1:{port}/0"
    assert redis.argv[1:] == [
        "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"
    ]  # fmt: skip
    assert worker.module == "paneas.gateway.jobs" and worker.port == port

    assert jobs_components({"JOBS_ENABLED": "false"}) == []
    # A broker of one's own: no Redis is started.
    (worker,) = jobs_components({"JOBS_BROKER_URL": "redis://:secret@cache:6380/2"})
    assert worker.endpoint == "redis://cache:6380"
