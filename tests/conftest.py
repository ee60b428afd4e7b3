"""Session-wide fixtures: one real OCR service and one real gateway for the whole suite."""

import secrets
from dataclasses import dataclass

import grpc
import pytest

from tests.support.processes import (
    ServiceProcess,
    free_port,
    grpc_serving,
    http_ok,
    wait_until,
)

# vLLM lives in its own venv: scripts/test-vllm.sh runs that folder there (scripts/test.sh
# calls it after this suite).
collect_ignore = ["vllm"]


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


@pytest.fixture(scope="session")
def gateway(
    api_token,
    ocr_service,
    asr_service,
    llm_service,
    tts_service,
    otlp_collector,
    tmp_path_factory,
) -> RunningGateway:
    running = start_gateway(
        api_token,
        ocr_service.target,
        tmp_path_factory.mktemp("gateway"),
        GATEWAY_MAX_BODY_BYTES=str(8 * 1024 * 1024),
        GATEWAY_ASR_TARGET=asr_service.target,
        GATEWAY_LLM_TARGET=llm_service.target,
        GATEWAY_TTS_TARGET=tts_service.target,
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
