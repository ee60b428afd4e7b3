"""`paneas` starts the stack, reports where it listens, and stops it all on Ctrl-C."""

import os
import signal
import subprocess
import sys
import time

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from paneas.jobs.v1 import jobs_pb2, jobs_pb2_grpc
from paneas.services.asr.evaluation import SAMPLES, sample_path, wer
from paneas.services.processes import free_port
from tests.support import REPO

# Slow: the whole stack through `paneas` (subprocess).
pytestmark = pytest.mark.slow


def test_launcher_starts_serves_and_stops(tmp_path):
    gateway_port, envoy_port, asr_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "OCR_PORT": str(free_port()),
        "OCR_METRICS_PORT": str(free_port()),
        "OCR_ENGINES": "tesseract",
        # Two instances (the default) on ASR_PORT and ASR_PORT + 10, behind Envoy.
        "ASR_PORT": str(asr_port),
        "ASR_METRICS_PORT": str(free_port()),
        "ASR_WARMUP": "false",
        "ASR_CPU_THREADS": "1",
        "ENVOY_PORT": str(envoy_port),
        "ENVOY_ADMIN_PORT": str(free_port()),
        "DIRECTORY_PORT": str(free_port()),
        "LLM_PORT": str(free_port()),
        "LLM_METRICS_PORT": str(free_port()),
        "LLM_WARMUP": "false",
        "TTS_PORT": str(free_port()),
        "TTS_METRICS_PORT": str(free_port()),
        "TTS_WARMUP": "false",
        "GATEWAY_PORT": str(gateway_port),
        "JOBS_GRPC_PORT": str(free_port()),
        "JOBS_GRPC_METRICS_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
        # Jobs are on by default: their records and files stay in this test's folder.
        "DATABASE_URL": f"sqlite:///{tmp_path}/gateway.db",
        "JOBS_STORAGE_URL": (tmp_path / "jobs").as_uri(),
    }
    env.pop("API_TOKENS", None)
    output = tmp_path / "launcher.log"
    with output.open("wb") as sink:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "paneas.services.launcher"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        try:
            deadline = time.monotonic() + 180
            while "Press Ctrl-C" not in output.read_text() and time.monotonic() < deadline:
                assert launcher.poll() is None, output.read_text()
                time.sleep(0.3)
            banner = output.read_text()
            assert f"http://127.0.0.1:{gateway_port}" in banner
            assert f"envoy     grpc://127.0.0.1:{envoy_port}" in banner
            assert f"asr-0     grpc://127.0.0.1:{asr_port}" in banner
            assert f"asr-1     grpc://127.0.0.1:{asr_port + 10}" in banner
            assert f"directory grpc://127.0.0.1:{env['DIRECTORY_PORT']}" in banner
            token_line = next(line for line in banner.splitlines() if "token" in line)
            token = token_line.split()[1]
            assert "generated for this run" in token_line

            # The ingress answers health for the whole mesh (its directory), no header needed.
            with grpc.insecure_channel(f"127.0.0.1:{envoy_port}") as channel:
                mesh = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=10
                )
            assert mesh.status == health_pb2.HealthCheckResponse.SERVING

            url = f"http://127.0.0.1:{gateway_port}"
            # Backend addresses are shown to callers with a token only.
            backends = httpx.get(
                f"{url}/api/v1/health", headers={"Authorization": f"Bearer {token}"}
            ).json()["backends"]
            # The gateway reaches every service through Envoy.
            assert {b["target"] for b in backends.values()} == {f"127.0.0.1:{envoy_port}"}
            assert {name: backend["status"] for name, backend in backends.items()} == {
                "ocr": "SERVING",
                "asr": "SERVING",
                "llm": "SERVING",
                "tts": "SERVING",
            }
            engines = httpx.post(
                f"{url}/api/v1/ocr",
                headers={"Authorization": "Bearer wrong"},
                files={"file": ("a.png", b"x")},
            )
            assert engines.status_code == 401
            accepted = httpx.post(
                f"{url}/api/v1/ocr",
                headers={"Authorization": f"Bearer {token}"},
                files={"file": ("a.txt", b"not an image")},
            )
            assert accepted.status_code == 400  # authenticated, then refused as not a document

            # Jobs: the stack's own Redis and worker transcribe a recording, through Envoy.
            assert "redis     redis://127.0.0.1:" in banner
            assert "jobs      redis://127.0.0.1:" in banner
            auth = {"Authorization": f"Bearer {token}"}
            with sample_path("jfk").open("rb") as audio:
                job = httpx.post(
                    f"{url}/api/v1/jobs", headers=auth, files={"file": ("jfk.wav", audio)}
                ).json()
            deadline = time.monotonic() + 120
            while job["status"] in ("queued", "running") and time.monotonic() < deadline:
                time.sleep(0.5)
                job = httpx.get(f"{url}/api/v1/jobs/{job['id']}", headers=auth).json()
            assert job["status"] == "succeeded", job
            assert wer(SAMPLES["jfk"].transcript, job["result"]["text"]) < 0.1
            # The same job through JobService, the jobs API's gRPC face, on the ingress.
            assert f"jobs-api  grpc://127.0.0.1:{env['JOBS_GRPC_PORT']}" in banner
            with grpc.insecure_channel(f"127.0.0.1:{envoy_port}") as channel:
                shown = jobs_pb2_grpc.JobServiceStub(channel).GetJob(
                    jobs_pb2.GetJobRequest(id=job["id"]),
                    metadata=(("authorization", f"Bearer {token}"),),
                    timeout=10,
                )
            assert shown.job.status == jobs_pb2.JOB_STATUS_SUCCEEDED
            assert shown.job.transcription.text.strip() == job["result"]["text"]

            launcher.send_signal(signal.SIGINT)
            assert launcher.wait(60) == 0
        finally:
            if launcher.poll() is None:
                launcher.kill()
    log = output.read_text()
    assert "paneas: stopped" in log
    assert "exited unexpectedly" not in log
