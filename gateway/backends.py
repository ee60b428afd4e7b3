"""gRPC channels from the gateway to the services, and the metadata passed along."""

import grpc
from fastapi import Request
from grpc_health.v1 import health_pb2, health_pb2_grpc

from paneas.gateway.settings import GatewaySettings
from paneas.ocr.v1 import ocr_pb2_grpc

# HTTP headers forwarded as gRPC metadata, as grpc-gateway forwards them.
_FORWARDED_HEADERS = ("authorization", "x-request-id")


def forwarded_metadata(request: Request) -> tuple[tuple[str, str], ...]:
    return tuple(
        (name, request.headers[name]) for name in _FORWARDED_HEADERS if name in request.headers
    )


class Backends:
    """One channel per configured service, opened at startup and shared by all requests."""

    def __init__(self, settings: GatewaySettings, max_message_bytes: int) -> None:
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        self.targets = {"ocr": settings.ocr_target}
        self.channels = {
            name: grpc.aio.insecure_channel(target, options=options)
            for name, target in self.targets.items()
            if target
        }
        self.ocr = (
            ocr_pb2_grpc.OcrServiceStub(self.channels["ocr"]) if "ocr" in self.channels else None
        )

    async def health(self, deadline_seconds: float) -> dict[str, dict[str, str]]:
        report = {}
        for name, channel in self.channels.items():
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=deadline_seconds)
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.aio.AioRpcError as error:
                status = (
                    "UNREACHABLE"
                    if error.code() is grpc.StatusCode.UNAVAILABLE
                    else error.code().name
                )
            report[name] = {"target": self.targets[name], "status": status}
        return report

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
