"""LLM fixtures: stubs on the suite's LLM service, and a second service wired to real remote
servers (a llama.cpp OpenAI-compatible server, a dead port, a server that never answers)."""

import json
import socket
import urllib.request
from dataclasses import dataclass

import grpc
import pytest

from paneas.llm.v1 import llm_pb2, llm_pb2_grpc
from paneas.services.llm.assets import packaged_gguf
from paneas.services.processes import ServiceProcess, free_port, grpc_serving, http_ok, wait_until


@pytest.fixture(scope="session")
def llm(llm_channel) -> llm_pb2_grpc.LlmServiceStub:
    return llm_pb2_grpc.LlmServiceStub(llm_channel)


def user(text: str) -> llm_pb2.Message:
    return llm_pb2.Message(role=llm_pb2.ROLE_USER, content=text)


def system(text: str) -> llm_pb2.Message:
    return llm_pb2.Message(role=llm_pb2.ROLE_SYSTEM, content=text)


def greedy(max_tokens: int, **extra) -> llm_pb2.SamplingParams:
    return llm_pb2.SamplingParams(temperature=0, max_tokens=max_tokens, **extra)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """A real third-party OpenAI-compatible server: llama-cpp-python's, on the packaged GGUF."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    server = ServiceProcess(
        "llama_cpp.server",
        {},
        log,
        args=[
            "--model",
            str(packaged_gguf("smollm2-135m-instruct")),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "4096",
            "--n_threads",
            "1",
            "--model_alias",
            "smollm2-remote",
        ],
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_ok(f"{url}/v1/models"), "llama.cpp server", server.process, 120)
    # Its first generation is slow (allocations, first prompt): not what the tests measure.
    warmup = urllib.request.Request(
        f"{url}/v1/chat/completions",
        data=json.dumps(
            {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(warmup, timeout=60).read()
    yield f"{url}/v1"
    server.stop()


@pytest.fixture(scope="session")
def silent_server():
    """Accepts connections and never answers: a model that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    listener.close()


@dataclass
class RunningMesh:
    target: str
    metrics_url: str
    process: ServiceProcess


MESH_CATALOGUE = """
engines:
  cpu:
    kind: llama_cpp
    model: packaged:smollm2-135m-instruct
    threads: 1
    max_waiting: 1
  remote:
    kind: openai
    base_url: {remote}
    model: smollm2-remote
    api_key_required: false
    context_window: 4096
  dead:
    kind: openai
    base_url: http://127.0.0.1:{dead_port}/v1
    model: nothing
    api_key_required: false
  silent:
    kind: openai
    base_url: {silent}
    model: nothing
    api_key_required: false
models:
  - {{name: local, engine: cpu, tier: fast}}
  - {{name: remote, engine: remote, tier: balanced}}
  - {{name: flaky, engine: dead}}
  - {{name: hanging, engine: silent}}
router:
  default_model: local
  fallbacks:
    flaky: [local]
    hanging: [local]
  allowed_fails: 2
  cooldown_seconds: 4
  # Generous: the real llama.cpp server must answer within it even on a busy 2-core box.
  first_token_timeout_seconds: 10
  idle_timeout_seconds: 10
"""


@pytest.fixture(scope="session")
def llm_mesh(api_token, llama_server, silent_server, tmp_path_factory) -> RunningMesh:
    """An LLM service whose catalogue spans a real remote server and two broken ones."""
    directory = tmp_path_factory.mktemp("llm-mesh")
    catalogue = directory / "catalogue.yaml"
    catalogue.write_text(
        MESH_CATALOGUE.format(remote=llama_server, dead_port=free_port(), silent=silent_server)
    )
    port, metrics_port = free_port(), free_port()
    env = {
        "API_TOKENS": api_token,
        "LLM_PORT": str(port),
        "LLM_METRICS_PORT": str(metrics_port),
        "LLM_CATALOGUE": str(catalogue),
    }
    service = ServiceProcess("paneas.services.llm", env, directory / "llm.log")
    target = f"127.0.0.1:{port}"
    wait_until(lambda: grpc_serving(target), "LLM mesh service", service.process, timeout=120)
    yield RunningMesh(target, f"http://127.0.0.1:{metrics_port}/metrics", service)
    service.stop()


@pytest.fixture(scope="session")
async def mesh(llm_mesh) -> llm_pb2_grpc.LlmServiceStub:
    async with grpc.aio.insecure_channel(llm_mesh.target) as channel:
        yield llm_pb2_grpc.LlmServiceStub(channel)


def trailing(error: grpc.aio.AioRpcError) -> dict[str, str]:
    return {key: value for key, value in error.trailing_metadata() or ()}
