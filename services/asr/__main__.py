"""`python -m paneas.services.asr` (or `paneas-asr`): the ASR gRPC service, one per device."""

import asyncio

import structlog

from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.services.asr.diarization import SpeakerEngine
from paneas.services.asr.engine import WhisperEngine
from paneas.services.asr.insights import InsightClient
from paneas.services.asr.scheduler import DecodeScheduler
from paneas.services.asr.servicer import AsrServicer
from paneas.services.asr.settings import AsrSettings
from paneas.services.runtime.server import GrpcService, ServiceRegistration
from paneas.services.runtime.settings import RuntimeSettings

SERVICE_NAME = asr_pb2.DESCRIPTOR.services_by_name["AsrService"].full_name
log = structlog.get_logger("paneas.asr")


def insight_client(settings: AsrSettings, runtime: RuntimeSettings) -> InsightClient | None:
    if not settings.llm_target:
        return None
    # The launcher hands every process the same API_TOKENS (generating one when unset), so
    # the first is one the LLM service accepts. A process started alone without API_TOKENS
    # has a token of its own the LLM cannot know: it sends none, and the LLM's refusal
    # becomes an error insight that says so.
    token = runtime.api_tokens[0] if runtime.api_tokens else None
    return InsightClient(
        settings.llm_target, token, settings.insight_model, settings.insight_max_tokens
    )


async def serve(settings: AsrSettings) -> None:
    runtime = RuntimeSettings()
    engine = WhisperEngine(settings)
    scheduler = DecodeScheduler(
        slots=settings.workers,
        max_waiting=settings.max_queue,
        max_streams=settings.stream_limit(),
        retry_after=settings.retry_after_seconds,
    )
    insights = insight_client(settings, runtime)
    speakers = SpeakerEngine(settings)
    registration = ServiceRegistration(
        SERVICE_NAME,
        asr_pb2_grpc.add_AsrServiceServicer_to_server,
        AsrServicer(engine, scheduler, settings, insights, speakers),
    )
    service = GrpcService("asr", settings, runtime)
    try:
        await service.run(
            [registration],
            load=lambda: load(engine, insights, speakers, settings),
            close=scheduler.close,
        )
    finally:
        if insights is not None:
            await insights.close()


async def load(
    engine: WhisperEngine,
    insights: InsightClient | None,
    speakers: SpeakerEngine,
    settings: AsrSettings,
) -> None:
    await asyncio.to_thread(engine.load)
    if settings.diarization_enabled and settings.diarization_preload:
        await asyncio.to_thread(speakers.load)
    # The LLM is not waited for: it may start later or be down, and streams without
    # insights need nothing from it.
    log.info("live insights", llm=insights.target if insights else "off (ASR_LLM_TARGET empty)")


def main() -> None:
    asyncio.run(serve(AsrSettings()))


if __name__ == "__main__":
    main()
