"""Health follows the service's life: NOT_SERVING while loading, SERVING, NOT_SERVING on drain."""

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from paneas.ocr.v1 import ocr_pb2, ocr_pb2_grpc
from paneas.services.ocr.pipeline import OcrPipeline
from paneas.services.ocr.servicer import OcrServicer
from paneas.services.ocr.settings import OcrSettings
from paneas.services.runtime.server import GrpcService, ServiceRegistration
from paneas.services.runtime.settings import RuntimeSettings

SERVICE = "paneas.ocr.v1.OcrService"
Status = health_pb2.HealthCheckResponse


@pytest.fixture
async def unloaded_service(api_token):
    """A real OCR service whose engines are not loaded yet (as during a model load)."""
    settings = OcrSettings(port=0, metrics_port=0, shutdown_grace_seconds=5)
    pipeline = OcrPipeline(settings)
    service = GrpcService("ocr", settings, RuntimeSettings(api_tokens=[api_token]))
    await service.start(
        [
            ServiceRegistration(
                SERVICE, ocr_pb2_grpc.add_OcrServiceServicer_to_server, OcrServicer(pipeline)
            )
        ]
    )
    yield service
    await service.stop()


async def check(channel: grpc.aio.Channel, service: str = "") -> int:
    reply = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=5
    )
    return reply.status


async def test_not_serving_while_loading_then_serving_then_draining(
    unloaded_service, auth_metadata
):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{unloaded_service.port}") as channel:
        assert await check(channel) == Status.NOT_SERVING
        assert await check(channel, SERVICE) == Status.NOT_SERVING

        # Work that arrives during the load is refused with a status clients retry on.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await ocr_pb2_grpc.OcrServiceStub(channel).Recognize(
                ocr_pb2.RecognizeRequest(content=b"x"), metadata=auth_metadata, timeout=5
            )
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "loading" in refused.value.details()

        await unloaded_service.set_serving(True)
        assert await check(channel) == Status.SERVING
        assert await check(channel, SERVICE) == Status.SERVING

        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=SERVICE)
        )
        assert (await watch.read()).status == Status.SERVING
        stopping = asyncio.ensure_future(unloaded_service.stop())
        assert (await watch.read()).status == Status.NOT_SERVING
        await stopping


async def test_unknown_service_is_not_found(unloaded_service):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{unloaded_service.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await check(channel, "no.such.Service")
    assert error.value.code() is grpc.StatusCode.NOT_FOUND
