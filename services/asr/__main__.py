"""`python -m paneas.services.asr` (or `paneas-asr`): the ASR gRPC service, one per device."""

import asyncio

from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.services.asr.engine import WhisperEngine
from paneas.services.asr.scheduler import DecodeScheduler
from paneas.services.asr.servicer import AsrServicer
from paneas.services.asr.settings import AsrSettings
from paneas.services.runtime.server import GrpcService, ServiceRegistration

SERVICE_NAME = asr_pb2.DESCRIPTOR.services_by_name["AsrService"].full_name


async def serve(settings: AsrSettings) -> None:
    engine = WhisperEngine(settings)
    scheduler = DecodeScheduler(
        slots=settings.workers,
        max_waiting=settings.max_queue,
        max_streams=settings.stream_limit(),
        retry_after=settings.retry_after_seconds,
    )
    registration = ServiceRegistration(
        SERVICE_NAME,
        asr_pb2_grpc.add_AsrServiceServicer_to_server,
        AsrServicer(engine, scheduler, settings),
    )
    await GrpcService("asr", settings).run(
        [registration], load=lambda: asyncio.to_thread(engine.load), close=scheduler.close
    )


def main() -> None:
    asyncio.run(serve(AsrSettings()))


if __name__ == "__main__":
    main()
