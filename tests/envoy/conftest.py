"""A real Envoy rendered by services/envoy (target `local`, free ports) in front of three
real ASR instances of its own, the suite's OCR, LLM and TTS services and a jobs service of its
own, with its directory (health and reflection of the whole mesh) beside it."""

import asyncio
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.services.envoy.config import local_target
from paneas.services.envoy.process import EnvoyProcess
from paneas.services.processes import ServiceProcess, free_port, grpc_serving, wait_until
from paneas.services.runtime.instance import INSTANCE_KEY

ASR_INSTANCES = 3


@dataclass
class AsrInstance:
    name: str
    port: int
    metrics_port: int
    log_dir: Path
    env: dict[str, str]
    process: ServiceProcess | None = None
    starts: int = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        log = self.log_dir / f"{self.name}.{self.starts}.log"
        self.process = ServiceProcess("paneas.services.asr", self.env, log)
        wait_until(lambda: grpc_serving(self.target), self.name, self.process.process, 120)


@dataclass
class Mesh:
    envoy: EnvoyProcess
    asr: list[AsrInstance]
    directory: ServiceProcess
    services: dict[str, object] = field(default_factory=dict)

    def instance(self, name: str) -> AsrInstance:
        return next(i for i in self.asr if i.name == name)

    def restore(self) -> None:
        """Restarts any ASR instance a test stopped, and waits until Envoy routes to it."""
        for instance in self.asr:
            if instance.process is None or instance.process.process.poll() is not None:
                if instance.process is not None:
                    instance.process.stop()
                instance.start()
        self.envoy.wait_healthy("asr", {i.port for i in self.asr})


def start_job_service(api_token: str, log_dir: Path) -> ServiceProcess:
    """The jobs service on a SQLite file and a folder, with Celery's in-memory broker: jobs
    are accepted and stay queued (no worker), which is all the mesh needs of it."""
    port, metrics_port = free_port(), free_port()
    service = ServiceProcess(
        "paneas.services.jobs",
        {
            "API_TOKENS": api_token,
            "JOBS_GRPC_PORT": str(port),
            "JOBS_GRPC_METRICS_PORT": str(metrics_port),
            "JOBS_BROKER_URL": "memory://",
            "JOBS_STORAGE_URL": (log_dir / "jobs").as_uri(),
            "DATABASE_URL": f"sqlite:///{log_dir}/jobs.db",
        },
        log_dir / "jobs.log",
    )
    service.target = f"127.0.0.1:{port}"
    service.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    wait_until(lambda: grpc_serving(service.target), "jobs service", service.process, 60)
    return service


@pytest.fixture(scope="session")
def mesh(api_token, ocr_service, llm_service, tts_service, tmp_path_factory) -> Mesh:
    log_dir = tmp_path_factory.mktemp("envoy")
    instances = []
    for index in range(ASR_INSTANCES):
        port, metrics_port = free_port(), free_port()
        env = {
            "API_TOKENS": api_token,
            "ASR_PORT": str(port),
            "ASR_METRICS_PORT": str(metrics_port),
            "ASR_INSTANCE": f"asr-{index}",
            # Small and cheap: the tests stream silence and one short file.
            "ASR_WARMUP": "false",
            "ASR_CPU_THREADS": "1",
            "ASR_WORKERS": "1",
            "ASR_MAX_STREAMS": "16",
            "ASR_LLM_TARGET": "",
            "ASR_SHUTDOWN_GRACE_SECONDS": "60",
        }
        instances.append(AsrInstance(f"asr-{index}", port, metrics_port, log_dir, env))
    for instance in instances:
        instance.start()
    jobs = start_job_service(api_token, log_dir)
    ports = {
        "ocr": int(ocr_service.target.rsplit(":", 1)[1]),
        "llm": int(llm_service.target.rsplit(":", 1)[1]),
        "tts": int(tts_service.target.rsplit(":", 1)[1]),
        "jobs": int(jobs.target.rsplit(":", 1)[1]),
    }
    admin_port, directory_port = free_port(), free_port()
    directory = ServiceProcess(
        "paneas.services.envoy.directory",
        {
            "API_TOKENS": api_token,
            "DIRECTORY_PORT": str(directory_port),
            "DIRECTORY_ENVOY_ADMIN": f"http://127.0.0.1:{admin_port}",
        },
        log_dir / "directory.log",
    )
    target = local_target(
        [i.port for i in instances],
        ports,
        listen_port=free_port(),
        admin_port=admin_port,
        directory_port=directory_port,
        stats_port=free_port(),
    )
    envoy = EnvoyProcess(target, log_dir, api_token)
    try:
        wait_until(envoy.ready, "Envoy", envoy.process, 30)
        for name in ("asr", "ocr", "llm", "tts", "jobs"):
            upstream_ports = {i.port for i in instances} if name == "asr" else {ports[name]}
            envoy.wait_healthy(name, upstream_ports)
        assert directory.process.poll() is None, directory.log_text()
        envoy.wait_healthy("directory", {directory_port})
        yield Mesh(
            envoy,
            instances,
            directory,
            {"ocr": ocr_service, "llm": llm_service, "tts": tts_service, "jobs": jobs},
        )
    finally:
        envoy.stop()
        directory.stop()
        jobs.stop()
        for instance in instances:
            if instance.process is not None:
                instance.process.stop()


@pytest.fixture
async def envoy_asr(mesh):
    async with grpc.aio.insecure_channel(mesh.envoy.address) as channel:
        yield asr_pb2_grpc.AsrServiceStub(channel)


def silence(seconds: float) -> bytes:
    return bytes(int(32000 * seconds))


def config_request() -> asr_pb2.StreamingRecognizeRequest:
    return asr_pb2.StreamingRecognizeRequest(
        streaming_config=asr_pb2.StreamingRecognitionConfig(
            sample_rate_hertz=16000, interim_results=False
        )
    )


def session_metadata(auth_metadata, session_id: str) -> tuple[tuple[str, str], ...]:
    return (*auth_metadata, ("x-session-id", session_id))


async def short_stream(stub, auth_metadata, session_id: str) -> str:
    """One complete live stream of a little silence; the instance that served it."""

    async def requests():
        yield config_request()
        yield asr_pb2.StreamingRecognizeRequest(audio=silence(0.2))

    call = stub.StreamingRecognize(requests(), metadata=session_metadata(auth_metadata, session_id))
    responses = [response async for response in call]
    assert await call.code() == grpc.StatusCode.OK
    assert responses, "a stream always ends with its summary"
    return dict(await call.initial_metadata())[INSTANCE_KEY]


class LiveStream:
    """A stream that keeps sending silence (10 chunks a second) until told to finish."""

    def __init__(self, stub, auth_metadata, session_id: str | None = None) -> None:
        self.session_id = session_id or uuid.uuid4().hex
        self.finish = asyncio.Event()
        self.sent = 0
        self.call = stub.StreamingRecognize(
            self._requests(), metadata=session_metadata(auth_metadata, self.session_id)
        )
        self.responses: list = []
        self.reader = asyncio.ensure_future(self._read())

    async def _requests(self):
        yield config_request()
        while not self.finish.is_set():
            yield asr_pb2.StreamingRecognizeRequest(audio=silence(0.1))
            self.sent += 1
            await asyncio.sleep(0.1)

    async def _read(self) -> grpc.StatusCode:
        try:
            async for response in self.call:
                self.responses.append(response)
        except grpc.aio.AioRpcError:
            pass
        return await self.call.code()

    async def outcome(self) -> tuple[grpc.StatusCode, str]:
        code = await asyncio.wait_for(self.reader, 60)
        return code, await self.call.details() or ""
