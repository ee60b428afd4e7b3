"""The directory: what the ingress answers for health and reflection when no service is named.

Envoy routes a call by its path, and `/grpc.health.v1.Health/Check` or
`/grpc.reflection.v1alpha.ServerReflection/...` names no Paneas service (the service a health
check asks about is in the request body, which Envoy cannot route on). This small server,
on the shared runtime (bearer auth, access logs, drain), takes those calls so that the ingress
behaves like one gRPC server:

- reflection (grpcio-reflection) lists every Paneas service, health and reflection, and
  resolves any of their symbols from the generated modules imported below; `grpcurl` then
  calls each method through Envoy, which routes it by path to the service;
- health answers from its Envoy's own view of the instances (admin `/clusters`):
  `paneas.<svc>.v1.<Svc>Service` is SERVING iff Envoy has at least one healthy instance of
  it; `""` (the ingress as a whole) is SERVING only when every service has one (and the
  directory itself is serving); the services it serves itself (health, reflection) answer
  with its own state (that is what Envoy's health check of it asks); any other name is
  NOT_FOUND. Watch re-reads Envoy's view every `DIRECTORY_WATCH_INTERVAL_SECONDS` and sends
  each change.

It runs beside each Envoy and reads that Envoy's admin (`DIRECTORY_ENVOY_ADMIN`): a second
Envoy behind the same Service has its own view. `python -m paneas.services.envoy.directory`.
"""

import asyncio
import time
import urllib.error
import urllib.request

import grpc
import structlog
from google.protobuf import descriptor_pool
from grpc_health.v1 import health, health_pb2

# Imported for their descriptors: reflection serves what the default pool holds.
from paneas.asr.v1 import asr_pb2
from paneas.jobs.v1 import jobs_pb2
from paneas.llm.v1 import llm_pb2
from paneas.ocr.v1 import ocr_pb2
from paneas.services.envoy.config import DIRECTORY_HEALTH_SERVICE, SERVICES
from paneas.services.envoy.settings import DirectorySettings
from paneas.services.runtime.server import GrpcService
from paneas.tts.v1 import tts_pb2

CONTRACTS = (asr_pb2, jobs_pb2, llm_pb2, ocr_pb2, tts_pb2)

log = structlog.get_logger("paneas.directory")

ServingStatus = health_pb2.HealthCheckResponse.ServingStatus
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN

# Envoy's cluster of each Paneas gRPC service.
CLUSTER_OF = {service.grpc_service: service.name for service in SERVICES}
# Served by the directory itself: they answer with its own state.
OWN_SERVICES = (health.SERVICE_NAME, DIRECTORY_HEALTH_SERVICE)


class EnvoyUnreachable(Exception):
    pass


class EnvoyView:
    """How many healthy instances Envoy has per cluster, from its admin `/clusters`.

    Reads are shared: callers within `max_age_seconds` of the last read get it again, so
    many watchers cost Envoy one request per interval.
    """

    def __init__(self, admin_url: str, max_age_seconds: float = 0.25) -> None:
        self.admin_url = admin_url.rstrip("/")
        self._max_age = max_age_seconds
        self._lock = asyncio.Lock()
        self._read_at = float("-inf")
        self._healthy: dict[str, int] = {}

    def _fetch(self) -> str:
        url = f"{self.admin_url}/clusters"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except (urllib.error.URLError, OSError) as error:
            raise EnvoyUnreachable(
                f"cannot read Envoy's admin at {url} ({error}); the directory answers health "
                "from it: check that Envoy runs beside it with its admin at DIRECTORY_ENVOY_ADMIN"
            ) from error

    @staticmethod
    def parse(text: str) -> dict[str, int]:
        """`cluster::host::health_flags::healthy` lines -> healthy hosts per cluster."""
        healthy: dict[str, int] = {}
        for line in text.splitlines():
            parts = line.split("::")
            if len(parts) != 4:
                continue
            cluster, _host, key, value = parts
            healthy.setdefault(cluster, 0)
            if key == "health_flags" and value == "healthy":
                healthy[cluster] += 1
        return healthy

    async def healthy(self) -> dict[str, int]:
        async with self._lock:
            if time.monotonic() - self._read_at > self._max_age:
                self._healthy = self.parse(await asyncio.to_thread(self._fetch))
                self._read_at = time.monotonic()
            return self._healthy


class MeshHealthServicer(health.aio.HealthServicer):
    """grpc.health.v1 for the whole mesh, as its Envoy sees it (see the module's notes).

    The runtime sets `""` on it as on any servicer (NOT_SERVING while starting and
    draining): that is the directory's own state, reported under `OWN_SERVICES` and
    required by `""`.
    """

    def __init__(self, view: EnvoyView, watch_interval_seconds: float) -> None:
        super().__init__()
        self.view = view
        self.watch_interval_seconds = watch_interval_seconds
        self._own = NOT_SERVING
        self._draining = False

    async def set(self, service: str, status: ServingStatus) -> None:
        await super().set(service, status)
        if service == "" and not self._draining:
            self._own = status

    async def enter_graceful_shutdown(self) -> None:
        self._draining = True
        self._own = NOT_SERVING
        await super().enter_graceful_shutdown()

    async def status(self, service: str) -> ServingStatus | None:
        """The answer for `service`; None when the mesh has no such service."""
        if service in OWN_SERVICES:
            return self._own
        if service == "":
            if self._own != SERVING:
                return NOT_SERVING
            healthy = await self.view.healthy()
            every = all(healthy.get(cluster, 0) > 0 for cluster in CLUSTER_OF.values())
            return SERVING if every else NOT_SERVING
        cluster = CLUSTER_OF.get(service)
        if cluster is None:
            return None
        healthy = await self.view.healthy()
        return SERVING if healthy.get(cluster, 0) > 0 else NOT_SERVING

    async def Check(self, request: health_pb2.HealthCheckRequest, context):
        try:
            status = await self.status(request.service)
        except EnvoyUnreachable as error:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(error))
        if status is None:
            known = ", ".join(CLUSTER_OF)
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"no service {request.service!r} in the mesh: ask for one of {known}, "
                "or '' for the ingress as a whole",
            )
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, request: health_pb2.HealthCheckRequest, context) -> None:
        last: ServingStatus | None = None
        while True:
            try:
                status = await self.status(request.service)
            except EnvoyUnreachable as error:
                # A watcher is told NOT_SERVING and keeps watching: Envoy may come back.
                log.warning("envoy_unreachable", error=str(error))
                status = NOT_SERVING
            if status is None:
                status = SERVICE_UNKNOWN
            if status != last:
                await context.write(health_pb2.HealthCheckResponse(status=status))
                last = status
            await asyncio.sleep(self.watch_interval_seconds)


def reflected_services() -> list[str]:
    """Every Paneas service, each checked against the imported descriptors: a service added
    to the mesh without its module imported here fails at start, not in a user's grpcurl."""
    pool = descriptor_pool.Default()
    for name in CLUSTER_OF:
        try:
            pool.FindServiceByName(name)
        except KeyError as error:
            raise RuntimeError(
                f"{name} is in services/envoy/config.py SERVICES but its generated module is "
                "not imported by services/envoy/directory.py"
            ) from error
    return list(CLUSTER_OF)


async def serve(settings: DirectorySettings) -> None:
    servicer = MeshHealthServicer(EnvoyView(settings.envoy_admin), settings.watch_interval_seconds)
    service = GrpcService(
        "directory",
        settings,
        health_servicer=servicer,
        reflected_services=reflected_services(),
    )
    await service.run([])


def main() -> None:
    asyncio.run(serve(DirectorySettings()))


if __name__ == "__main__":
    main()
