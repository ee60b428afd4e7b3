"""gRPC channels from the gateway to the services, one per deployed service."""

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from paneas.asr.v1 import asr_pb2_grpc
from paneas.gateway.grpc_client import client_interceptors
from paneas.gateway.settings import GatewaySettings
from paneas.llm.v1 import llm_pb2_grpc
from paneas.ocr.v1 import ocr_pb2_grpc
from paneas.tts.v1 import tts_pb2_grpc


def backend_of(service_full_name: str) -> str:
    """'paneas.ocr.v1.OcrService' -> 'ocr': the backend a contract's service lives in."""
    return service_full_name.split(".")[1]


class Backends:
    """Channels opened at startup and shared by all requests. A service whose target is
    empty is not deployed: its routes are not offered."""

    def __init__(self, settings: GatewaySettings, max_message_bytes: int) -> None:
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        self.targets = {name: target for name, target in settings.targets().items() if target}
        self.channels = {
            name: grpc.aio.insecure_channel(
                target, options=options, interceptors=client_interceptors()
            )
            for name, target in self.targets.items()
        }
        self.ocr = (
            ocr_pb2_grpc.OcrServiceStub(self.channels["ocr"]) if "ocr" in self.channels else None
        )
        self.asr = (
            asr_pb2_grpc.AsrServiceStub(self.channels["asr"]) if "asr" in self.channels else None
        )
        self.llm = (
            llm_pb2_grpc.LlmServiceStub(self.channels["llm"]) if "llm" in self.channels else None
        )
        self.tts = (
            tts_pb2_grpc.TtsServiceStub(self.channels["tts"]) if "tts" in self.channels else None
        )

    async def health(self, deadline_seconds: float) -> dict[str, dict[str, str]]:
        report = {}
        for name, channel in self.channels.items():
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                # Behind Envoy the header picks whose health answers (a direct target ignores it).
                reply = await stub.Check(
                    health_pb2.HealthCheckRequest(),
                    timeout=deadline_seconds,
                    metadata=(("x-paneas-service", name),),
                )
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.aio.AioRpcError as error:
                unreachable = error.code() is grpc.StatusCode.UNAVAILABLE
                status = "UNREACHABLE" if unreachable else error.code().name
            report[name] = {"target": self.targets[name], "status": status}
        return report

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
