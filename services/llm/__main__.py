"""`python -m paneas.services.llm` (or `paneas-llm`): the LLM router and its engines."""

import asyncio

import structlog

from paneas.llm.v1 import llm_pb2, llm_pb2_grpc
from paneas.services.llm.engines import build_engine
from paneas.services.llm.engines.base import ChatEngine, ChatParams
from paneas.services.llm.router import ModelRouter
from paneas.services.llm.servicer import LlmServicer
from paneas.services.llm.serving import ChatServing
from paneas.services.llm.settings import LlmSettings
from paneas.services.runtime.server import GrpcService, ServiceRegistration

SERVICE_NAME = llm_pb2.DESCRIPTOR.services_by_name["LlmService"].full_name
log = structlog.get_logger("paneas.llm")


def configured_engines(settings: LlmSettings) -> dict[str, ChatEngine]:
    engines = {}
    for name, spec in settings.engines.items():
        engine = build_engine(spec, settings.retry_after_seconds)
        if not getattr(engine, "configured", True):
            log.info("engine skipped: no API key", engine=name, api_key_env=spec.api_key_env)
            continue
        engines[name] = engine
    return engines


async def load(engines: dict[str, ChatEngine], warmup: bool) -> None:
    await asyncio.gather(*(engine.start() for engine in engines.values()))
    if warmup:
        local = [e for e in engines.values() if e.kind != "openai"]
        for engine in local:
            params = ChatParams(messages=[{"role": "user", "content": "Hi"}], max_tokens=2)
            async for _ in engine.stream(params):
                pass
    for name, engine in engines.items():
        log.info(
            "engine ready",
            engine=name,
            kind=engine.kind,
            model=engine.model,
            context_window=engine.context_window,
        )


async def serve(settings: LlmSettings) -> None:
    engines = configured_engines(settings)
    router = ModelRouter(settings.models, engines, settings.router, settings.allow_external)
    registration = ServiceRegistration(
        SERVICE_NAME,
        llm_pb2_grpc.add_LlmServiceServicer_to_server,
        LlmServicer(ChatServing(router, settings.router)),
    )

    async def close() -> None:
        await asyncio.gather(*(engine.close() for engine in engines.values()))

    service = GrpcService("llm", settings)
    try:
        await service.run([registration], load=lambda: load(engines, settings.warmup))
    finally:
        await close()


def main() -> None:
    asyncio.run(serve(LlmSettings()))


if __name__ == "__main__":
    main()
