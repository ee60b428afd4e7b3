"""grpcurl through real Envoy lists and calls every service (reflection and health chosen
with the x-paneas-service header), and the instance header comes back."""

import base64
import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from paneas.ocr.v1 import ocr_pb2, ocr_pb2_grpc
from paneas.services.runtime.instance import INSTANCE_KEY
from tests.support.audio import sample_path

GRPCURL = str(Path(sys.executable).parent / "grpcurl")


def grpcurl(
    mesh, api_token, *args: str, service: str | None = None, data: dict | None = None
) -> subprocess.CompletedProcess:
    headers = ["-H", f"authorization: Bearer {api_token}"]
    if service:
        headers += ["-H", f"x-paneas-service: {service}"]
    return subprocess.run(
        [GRPCURL, "-plaintext", "-max-time", "120", *headers]
        + (["-d", "@"] if data is not None else [])
        + list(args),
        input=json.dumps(data) if data is not None else None,
        capture_output=True,
        text=True,
        timeout=150,
    )


CALLS = {
    "ocr": ("paneas.ocr.v1.OcrService/ListEngines", {}, "engines"),
    "llm": ("paneas.llm.v1.LlmService/ListModels", {}, "models"),
    "tts": ("paneas.tts.v1.TtsService/ListVoices", {}, "voices"),
    "asr": (
        "paneas.asr.v1.AsrService/Recognize",
        {"audio": base64.b64encode(sample_path("jfk").read_bytes()).decode()},
        "text",
    ),
}


@pytest.mark.parametrize("service", ["asr", "llm", "ocr", "tts"])
def test_grpcurl_lists_describes_and_calls_through_envoy(mesh, api_token, service):
    address = mesh.envoy.address
    listed = grpcurl(mesh, api_token, address, "list", service=service)
    assert listed.returncode == 0, listed.stderr
    full_name = f"paneas.{service}.v1.{service.capitalize()}Service"
    assert full_name in listed.stdout.split()
    assert "grpc.health.v1.Health" in listed.stdout.split()

    health = grpcurl(
        mesh,
        api_token,
        address,
        "grpc.health.v1.Health/Check",
        service=service,
        data={"service": full_name},
    )
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout) == {"status": "SERVING"}

    method, request, field = CALLS[service]
    called = grpcurl(mesh, api_token, "-v", address, method, service=service, data=request)
    assert called.returncode == 0, called.stderr
    reply = json.loads(called.stdout[called.stdout.index("\n{") :].split("\n}\n")[0] + "\n}")
    assert reply.get(field), called.stdout
    assert f"{INSTANCE_KEY}:" in called.stdout  # -v prints the response headers


def test_reflection_without_the_service_header_says_what_to_do(mesh, api_token):
    listed = grpcurl(mesh, api_token, mesh.envoy.address, "list")
    assert listed.returncode != 0
    assert "x-paneas-service" in listed.stderr


def test_unknown_method_is_unimplemented(mesh, auth_metadata):
    with grpc.insecure_channel(mesh.envoy.address) as channel:
        call = channel.unary_unary("/paneas.nothing.v1.Nope/Do")
        with pytest.raises(grpc.RpcError) as error:
            call(b"", metadata=auth_metadata, timeout=10)
        assert error.value.code() is grpc.StatusCode.UNIMPLEMENTED


def test_every_response_names_its_instance(mesh, auth_metadata):
    """Direct and through Envoy; merged with the servicer's own initial metadata (LLM)."""
    ocr = mesh.services["ocr"]
    with grpc.insecure_channel(ocr.target) as channel:
        _, call = ocr_pb2_grpc.OcrServiceStub(channel).ListEngines.with_call(
            ocr_pb2.ListEnginesRequest(), metadata=auth_metadata, timeout=10
        )
        assert dict(call.initial_metadata())[INSTANCE_KEY].endswith(ocr.target.split(":")[1])
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
