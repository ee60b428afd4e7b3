"""grpcurl through real Envoy, with only the bearer header, as if the ingress were one gRPC
server: it lists, describes and calls every service, health answers for each service and for
the whole mesh (the directory beside Envoy), a missing token is refused, and the
x-paneas-service header still picks one instance of a service."""

import base64
import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from paneas.ocr.v1 import ocr_pb2, ocr_pb2_grpc
from paneas.services.asr.evaluation import sample_path
from paneas.services.envoy.config import SERVICES
from paneas.services.runtime.instance import INSTANCE_KEY

GRPCURL = str(Path(sys.executable).parent / "grpcurl")
GRPC_SERVICES = [service.grpc_service for service in SERVICES]


def grpcurl(
    mesh,
    api_token: str | None,
    *args: str,
    service: str | None = None,
    data: dict | None = None,
    max_time: int = 120,
) -> subprocess.CompletedProcess:
    """grpcurl against Envoy's address: `args` are options (`-v`), then the verb or method;
    `api_token` None sends no authorization at all."""
    headers = ["-H", f"authorization: Bearer {api_token}"] if api_token else []
    if service:
        headers += ["-H", f"x-paneas-service: {service}"]
    options = [arg for arg in args if arg.startswith("-")]
    command = [arg for arg in args if not arg.startswith("-")]
    return subprocess.run(
        [GRPCURL, "-plaintext", "-max-time", str(max_time), *headers, *options]
        + (["-d", "@"] if data is not None else [])
        + [mesh.envoy.address, *command],
        input=json.dumps(data) if data is not None else None,
        capture_output=True,
        text=True,
        timeout=max_time + 30,
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


def test_list_shows_every_service_health_and_reflection(mesh, api_token):
    listed = grpcurl(mesh, api_token, "list")
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) >= {
        *GRPC_SERVICES,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


def test_describe_resolves_services_methods_and_messages(mesh, api_token):
    described = grpcurl(mesh, api_token, "describe", "paneas.ocr.v1.OcrService")
    assert described.returncode == 0, described.stderr
    assert "paneas.ocr.v1.OcrService is a service" in described.stdout
    assert "rpc Recognize ( .paneas.ocr.v1.RecognizeRequest )" in described.stdout

    message = grpcurl(mesh, api_token, "describe", "paneas.asr.v1.StreamingRecognitionConfig")
    assert message.returncode == 0, message.stderr
    assert "paneas.asr.v1.StreamingRecognitionConfig is a message" in message.stdout
    assert "sample_rate_hertz" in message.stdout

    method = grpcurl(mesh, api_token, "describe", "paneas.tts.v1.TtsService.ListVoices")
    assert method.returncode == 0, method.stderr
    assert "is a method" in method.stdout


@pytest.mark.parametrize("service", ["asr", "llm", "ocr", "tts"])
def test_every_service_is_called_by_name_with_json(mesh, api_token, service):
    method, request, field = CALLS[service]
    called = grpcurl(mesh, api_token, "-v", method, data=request)
    assert called.returncode == 0, called.stderr
    reply = json.loads(called.stdout[called.stdout.index("\n{") :].split("\n}\n")[0] + "\n}")
    assert reply.get(field), called.stdout
    # -v prints the response headers: the instance that served it, not the directory.
    assert f"{INSTANCE_KEY}:" in called.stdout


def test_a_job_is_uploaded_in_a_client_stream_and_read_back(mesh, api_token):
    """grpcurl sends one message per JSON object: the spec, then the file in two chunks."""
    audio = sample_path("jfk").read_bytes()
    half = len(audio) // 2
    messages = [
        {"spec": {"filename": "jfk.wav", "transcription": {"language": "en"}}},
        {"chunk": base64.b64encode(audio[:half]).decode()},
        {"chunk": base64.b64encode(audio[half:]).decode()},
    ]
    created = subprocess.run(
        [GRPCURL, "-plaintext", "-H", f"authorization: Bearer {api_token}", "-d", "@"]
        + [mesh.envoy.address, "paneas.jobs.v1.JobService/CreateJob"],
        input="\n".join(json.dumps(message) for message in messages),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    job = json.loads(created.stdout)["job"]
    assert job["status"] == "JOB_STATUS_QUEUED"
    assert job["input"] == {"filename": "jfk.wav", "bytes": str(len(audio))}
    read = grpcurl(mesh, api_token, "paneas.jobs.v1.JobService/GetJob", data={"id": job["id"]})
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["job"]["id"] == job["id"]
    described = grpcurl(mesh, api_token, "describe", "paneas.jobs.v1.JobService")
    assert "rpc CreateJob ( stream .paneas.jobs.v1.CreateJobRequest )" in described.stdout


@pytest.mark.parametrize("name", [*GRPC_SERVICES, ""])
def test_health_answers_for_each_service_and_for_the_whole_mesh(mesh, api_token, name):
    checked = grpcurl(mesh, api_token, "grpc.health.v1.Health/Check", data={"service": name})
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout) == {"status": "SERVING"}


def test_health_of_an_unknown_service_is_not_found(mesh, api_token):
    checked = grpcurl(
        mesh, api_token, "grpc.health.v1.Health/Check", data={"service": "paneas.nope.v1.Nope"}
    )
    assert checked.returncode != 0
    assert "NotFound" in checked.stderr, checked.stderr
    assert "paneas.ocr.v1.OcrService" in checked.stderr  # says which names exist


def test_health_watch_streams_the_status(mesh, api_token):
    # No -max-time: with a deadline, Envoy (which enforces grpc-timeout) and grpcurl race to end
    # the stream, and Envoy's reset after the first message reads as INTERNAL. A watch lasts
    # until the caller leaves, so here the caller leaves.
    watcher = subprocess.Popen(
        [GRPCURL, "-plaintext", "-H", f"authorization: Bearer {api_token}"]
        + ["-d", json.dumps({"service": "paneas.llm.v1.LlmService"})]
        + [mesh.envoy.address, "grpc.health.v1.Health/Watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        watcher.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    still_watching = watcher.poll() is None
    watcher.kill()
    stdout, stderr = watcher.communicate(timeout=30)
    assert json.loads(stdout) == {"status": "SERVING"}, stderr
    assert still_watching, f"the watch ended by itself: {stderr}"


def test_without_a_token_reflection_and_calls_are_refused(mesh):
    for args, data in (
        (("list",), None),
        (("describe", "paneas.ocr.v1.OcrService"), None),
        (("paneas.ocr.v1.OcrService/ListEngines",), {}),
        # grpcurl needs reflection to encode even a health check.
        (("grpc.health.v1.Health/Check",), {"service": ""}),
    ):
        refused = grpcurl(mesh, None, *args, data=data)
        assert refused.returncode != 0, args
        assert "Unauthenticated" in refused.stderr, (args, refused.stderr)
        assert "missing bearer token" in refused.stderr, refused.stderr


def test_health_itself_needs_no_token(mesh):
    """As on every service: probes and Envoy's checks carry no token."""
    with grpc.insecure_channel(mesh.envoy.address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="paneas.ocr.v1.OcrService"), timeout=10
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_service_header_still_picks_one_instance(mesh, api_token):
    listed = grpcurl(mesh, api_token, "list", service="tts")
    assert listed.returncode == 0, listed.stderr
    assert "paneas.tts.v1.TtsService" in listed.stdout.split()
    assert "paneas.ocr.v1.OcrService" not in listed.stdout.split()  # that instance's own

    checked = grpcurl(
        mesh, api_token, "-v", "grpc.health.v1.Health/Check", service="asr", data={"service": ""}
    )
    assert checked.returncode == 0, checked.stderr
    assert f"{INSTANCE_KEY}: asr-" in checked.stdout

    unknown = grpcurl(mesh, api_token, "list", service="nope")
    assert unknown.returncode != 0
    assert "InvalidArgument" in unknown.stderr and "asr|jobs|llm|ocr|tts" in unknown.stderr


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
