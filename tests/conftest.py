"""Session-wide fixtures: one real OCR service and one real gateway for the whole suite; and
the suite's two layers.

`pytest -m "not slow"` is the in-process layer: no test in it starts a process (a service, a
gateway, Envoy, Redis, PostgreSQL, a browser, a tool such as promtool) or loads a model (but
the 2 MB Silero VAD of the live-stream tests), so it runs in well under a minute and needs
nothing but the venv. Everything else is `slow`:

- a test that uses a fixture named in `SLOW_FIXTURES` (directly or through another fixture)
  is marked here, so tests on the services need no marker of their own;
- a test that starts a process itself (`ServiceProcess`, `start_gateway`, `subprocess.run`)
  carries `@pytest.mark.slow`, or its module `pytestmark = pytest.mark.slow`.

A test that is not slow and starts a process anyway fails at once with `ProcessInFastTest`
naming it (an audit hook refuses the process), so the layers cannot drift apart.
"""

import secrets
import sys
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
import pytest

from paneas.services.processes import ServiceProcess, free_port, grpc_serving, http_ok, wait_until

# vLLM lives in its own venv: scripts/test-vllm.sh runs that folder there (scripts/test.sh
# calls it after this suite).
collect_ignore = ["vllm"]

# Every fixture, wherever it is defined, that starts a process or loads a model: each test
# that uses one is `slow`. A new such fixture goes here.
SLOW_FIXTURES = frozenset(
    {
        # here: the suite's real services and gateway
        "ocr_service",
        "asr_service",
        "llm_service",
        "tts_service",
        "gateway",
        # tests/asr: ASR services of a test module's own
        "long_file_asr",
        "small_asr",
        "dedicated_asr",
        # tests/deploy: the configs as `docker compose config` and `kubectl kustomize`
        # resolve them
        "resolved",
        "objects",
        # tests/envoy: Envoy, its directory and three ASR instances; tests/llm: the LLM
        # service wired to remote servers (both are called `mesh`)
        "mesh",
        # tests/gateway: gateways, Redis and PostgreSQL of a test module's own
        "streaming_gateway",
        "redis",
        "postgres",
        # tests/jobs: Redis, a jobs worker, a gateway with jobs on and the jobs service
        "jobs_redis",
        "jobs_worker",
        "jobs_gateway",
        "job_service",
        # tests/llm: llama.cpp's own OpenAI-compatible server
        "llama_server",
        "llm_mesh",
        # tests/ocr: the OCR engines loaded in this process
        "pipeline",
        "small_pipeline",
        # tests/tts: a TTS service on configured voice paths
        "configured_service",
        # tests/ui: Chromium driven by Playwright
        "browser",
    }
)


# First: `-m "not slow"` deselects by the marks as they are after this.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


class ProcessInFastTest(RuntimeError):
    """A test outside the slow layer tried to start a process."""


# The test now running when it may not start processes, else None.
_in_process_test: str | None = None
# Every way Python starts a program or forks raises one of these audit events first.
_PROCESS_EVENTS = frozenset(
    {"subprocess.Popen", "os.system", "os.posix_spawn", "os.spawn", "os.exec", "os.fork"}
)


def _refuse_processes(event: str, args: tuple) -> None:
    if _in_process_test is not None and event in _PROCESS_EVENTS:
        raise ProcessInFastTest(
            f"{_in_process_test} starts a process ({event} {args[:2]!r}) but is not marked "
            "slow: mark it @pytest.mark.slow, or add the fixture that starts it to "
            "SLOW_FIXTURES in tests/conftest.py"
        )


sys.addaudithook(_refuse_processes)


@contextmanager
def _processes_refused_unless_slow(item: pytest.Item):
    global _in_process_test
    _in_process_test = None if item.get_closest_marker("slow") else item.nodeid
    try:
        yield
    finally:
        _in_process_test = None


# Setup too: a module or session fixture starts its process in the setup of its first test.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    with _processes_refused_unless_slow(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    with _processes_refused_unless_slow(item):
        return (yield)


@dataclass
class RunningOcr:
    target: str
    metrics_url: str
    process: ServiceProcess


@dataclass
class RunningAsr:
    target: str
    metrics_url: str
    process: ServiceProcess


@dataclass
class RunningLlm:
    target: str
    metrics_url: str
    process: ServiceProcess


@dataclass
class RunningTts:
    target: str
    metrics_url: str
    process: ServiceProcess


@dataclass
class RunningGateway:
    url: str
    process: ServiceProcess


@pytest.fixture(scope="session")
def api_token() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture(scope="session")
def auth_metadata(api_token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {api_token}"),)


@pytest.fixture(scope="session")
def otlp_collector():
    from tests.support.otlp import OtlpCollector

    collector = OtlpCollector()
    yield collector
    collector.stop()


@pytest.fixture(scope="session")
def ocr_service(api_token, otlp_collector, tmp_path_factory) -> RunningOcr:
    port, metrics_port = free_port(), free_port()
    env = {
        "API_TOKENS": api_token,
        "OCR_PORT": str(port),
        "OCR_METRICS_PORT": str(metrics_port),
        **otlp_env(otlp_collector),
    }
    log = tmp_path_factory.mktemp("ocr") / "ocr.log"
    service = ServiceProcess("paneas.services.ocr", env, log)
    target = f"127.0.0.1:{port}"
    wait_until(lambda: grpc_serving(target), "OCR service", service.process)
    yield RunningOcr(target, f"http://127.0.0.1:{metrics_port}/metrics", service)
    service.stop()


@pytest.fixture(scope="session")
def ocr_channel(ocr_service):
    with grpc.insecure_channel(
        ocr_service.target,
        options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
    ) as channel:
        yield channel


@pytest.fixture(scope="session")
def asr_service(api_token, llm_service, tmp_path_factory) -> RunningAsr:
    """One real ASR service on the packaged Whisper base; loaded once for the whole suite.
    Its live insights ask the suite's real LLM service."""
    port, metrics_port = free_port(), free_port()
    env = {
        "API_TOKENS": api_token,
        "ASR_PORT": str(port),
        "ASR_METRICS_PORT": str(metrics_port),
        "ASR_MAX_STREAMS": "4",
        "ASR_MAX_QUEUE": "4",
        "ASR_LLM_TARGET": llm_service.target,
        # The LLM shares two cores with Whisper (and with whatever else runs): give its
        # answers time, so tests that expect a summary get one.
        "ASR_INSIGHT_TIMEOUT_SECONDS": "60",
        "ASR_SUMMARY_TIMEOUT_SECONDS": "60",
    }
    log = tmp_path_factory.mktemp("asr") / "asr.log"
    service = ServiceProcess("paneas.services.asr", env, log)
    target = f"127.0.0.1:{port}"
    wait_until(lambda: grpc_serving(target), "ASR service", service.process, timeout=120)
    yield RunningAsr(target, f"http://127.0.0.1:{metrics_port}/metrics", service)
    service.stop()


@pytest.fixture(scope="session")
async def asr_channel(asr_service):
    async with grpc.aio.insecure_channel(asr_service.target) as channel:
        yield channel


@pytest.fixture(scope="session")
def llm_service(api_token, tmp_path_factory) -> RunningLlm:
    """One real LLM service on the embedded default (llama.cpp, packaged SmolLM2)."""
    port, metrics_port = free_port(), free_port()
    env = {
        "API_TOKENS": api_token,
        "LLM_PORT": str(port),
        "LLM_METRICS_PORT": str(metrics_port),
        # The external tier is the real OpenAI API, which tests cannot reach.
        "OPENAI_API_KEY": "",
    }
    log = tmp_path_factory.mktemp("llm") / "llm.log"
    service = ServiceProcess("paneas.services.llm", env, log)
    target = f"127.0.0.1:{port}"
    wait_until(lambda: grpc_serving(target), "LLM service", service.process, timeout=120)
    yield RunningLlm(target, f"http://127.0.0.1:{metrics_port}/metrics", service)
    service.stop()


@pytest.fixture(scope="session")
async def llm_channel(llm_service):
    async with grpc.aio.insecure_channel(llm_service.target) as channel:
        yield channel


@pytest.fixture(scope="session")
def tts_service(api_token, tmp_path_factory) -> RunningTts:
    """One real TTS service with every engine (Piper joe, Kokoro int8, espeak-ng), each model
    loaded once for the whole suite."""
    port, metrics_port = free_port(), free_port()
    env = {
        "API_TOKENS": api_token,
        "TTS_PORT": str(port),
        "TTS_METRICS_PORT": str(metrics_port),
        # Small enough that the limit test sends little, large enough for every other test.
        "TTS_MAX_TEXT_CHARS": "2000",
    }
    log = tmp_path_factory.mktemp("tts") / "tts.log"
    service = ServiceProcess("paneas.services.tts", env, log)
    target = f"127.0.0.1:{port}"
    wait_until(lambda: grpc_serving(target), "TTS service", service.process, timeout=120)
    yield RunningTts(target, f"http://127.0.0.1:{metrics_port}/metrics", service)
    service.stop()


@pytest.fixture(scope="session")
async def tts_channel(tts_service):
    async with grpc.aio.insecure_channel(tts_service.target) as channel:
        yield channel


def start_gateway(api_token: str, ocr_target: str, log_dir, **extra_env: str) -> RunningGateway:
    port = free_port()
    env = {
        "API_TOKENS": api_token,
        "GATEWAY_PORT": str(port),
        "GATEWAY_OCR_TARGET": ocr_target,
        # Not deployed unless a test says so (the default target is a real port).
        "GATEWAY_ASR_TARGET": "",
        "GATEWAY_LLM_TARGET": "",
        "GATEWAY_TTS_TARGET": "",
        # Each test gateway keeps its analytics to itself.
        "DATABASE_URL": f"sqlite:///{log_dir}/analytics.db",
        **extra_env,
    }
    gateway = ServiceProcess("paneas.gateway", env, log_dir / "gateway.log")
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_ok(f"{url}/openapi.json"), "gateway", gateway.process)
    return RunningGateway(url, gateway)


def otlp_env(collector) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }


BACKENDS = ("ocr", "asr", "llm", "tts")


def _backends_in_use(session: pytest.Session) -> list[str]:
    """The backends that the collected tests using `gateway` need: each test module names
    them with `pytest.mark.backends(...)`; a test that names none needs all of them. So
    running the OCR tests alone starts no Whisper, and the whole suite starts each once."""
    needed: set[str] = set()
    for item in session.items:
        if "gateway" in getattr(item, "fixturenames", ()):
            marker = item.get_closest_marker("backends")
            needed.update(marker.args if marker else BACKENDS)
    return [name for name in BACKENDS if name in needed]


@pytest.fixture(scope="session")
def gateway(request, api_token, otlp_collector, tmp_path_factory) -> RunningGateway:
    # Started here, not as fixture arguments, so that only the backends in use start.
    targets = {
        name: request.getfixturevalue(f"{name}_service").target
        for name in _backends_in_use(request.session)
    }
    running = start_gateway(
        api_token,
        targets.get("ocr", ""),
        tmp_path_factory.mktemp("gateway"),
        GATEWAY_MAX_BODY_BYTES=str(8 * 1024 * 1024),
        GATEWAY_ASR_TARGET=targets.get("asr", ""),
        GATEWAY_LLM_TARGET=targets.get("llm", ""),
        GATEWAY_TTS_TARGET=targets.get("tts", ""),
        # The whole suite shares this gateway and one token; schemathesis alone sends
        # hundreds of requests. Limits are tested on gateways of their own.
        RATE_LIMIT_GLOBAL="1000000",
        RATE_LIMIT_ASR="1000000",
        RATE_LIMIT_OCR="1000000",
        RATE_LIMIT_LLM="1000000",
        RATE_LIMIT_TTS="1000000",
        RATE_LIMIT_STREAM_HANDSHAKES="1000000",
        RATE_LIMIT_CONCURRENT_STREAMS="1000000",
        **otlp_env(otlp_collector),
    )
    yield running
    running.process.stop()
