"""`python -m paneas.services.jobs` (or `paneas-jobs`): the gRPC JobService."""

import asyncio

import structlog
from sqlalchemy.exc import DBAPIError

from paneas.gateway.analytics.database import open_engine
from paneas.gateway.jobs.queue import JobQueue
from paneas.gateway.jobs.serving import Jobs
from paneas.gateway.jobs.settings import JobsSettings
from paneas.gateway.jobs.storage import open_storage
from paneas.gateway.jobs.store import JobStore, upgrade_schema
from paneas.gateway.settings import GatewaySettings
from paneas.jobs.v1 import jobs_pb2, jobs_pb2_grpc
from paneas.services.jobs.servicer import JobServicer
from paneas.services.jobs.settings import JobServiceSettings
from paneas.services.runtime.server import GrpcService, ServiceRegistration

SERVICE_NAME = jobs_pb2.DESCRIPTOR.services_by_name["JobService"].full_name
# Tries of the schema's migration at start: the gateway may be migrating the same SQLite file
# at that moment (PostgreSQL serialises them with an advisory lock).
MIGRATION_TRIES = 5

log = structlog.get_logger("paneas.jobs.service")


async def serve(settings: JobServiceSettings) -> None:
    jobs_settings = JobsSettings()
    if not jobs_settings.broker_url:
        raise SystemExit("the jobs service needs JOBS_BROKER_URL (redis://host:port/0)")
    engine = open_engine(jobs_settings.async_url())
    queue = JobQueue(jobs_settings)
    # A job cancelled here has ended: its webhook is queued from here, as from the gateway.
    store = JobStore(engine, on_end=queue.notify_ended)
    jobs = Jobs(store, open_storage(jobs_settings), queue, jobs_settings, GatewaySettings())

    async def load() -> None:
        for attempt in range(1, MIGRATION_TRIES + 1):
            try:
                await upgrade_schema(engine)
                return
            except DBAPIError:
                if attempt == MIGRATION_TRIES:
                    raise
                log.warning("jobs schema not migrated yet, trying again", attempt=attempt)
                await asyncio.sleep(attempt)

    service = GrpcService("jobs", settings)
    registration = ServiceRegistration(
        SERVICE_NAME, jobs_pb2_grpc.add_JobServiceServicer_to_server, JobServicer(jobs)
    )
    try:
        await service.run([registration], load=load, close=queue.close)
    finally:
        await engine.dispose()


def main() -> None:
    asyncio.run(serve(JobServiceSettings()))


if __name__ == "__main__":
    main()
