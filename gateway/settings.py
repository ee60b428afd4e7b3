"""Gateway settings, from `GATEWAY_*` environment variables."""

from typing import Annotated

from pydantic_settings import BaseSettings, SettingsConfigDict

from paneas.services.runtime.settings import CommaSeparated


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    # Browser origins allowed to call the API; none by default (same-origin only).
    cors_origins: Annotated[list[str], *CommaSeparated] = []
    # Largest request body; bigger ones get 413.
    max_body_bytes: int = 50 * 1024 * 1024
    # gRPC targets of the services (host:port); an empty target means "not deployed".
    ocr_target: str = "127.0.0.1:50053"
    asr_target: str = ""
    llm_target: str = ""
    tts_target: str = ""
    # Deadline for an OCR call, seconds.
    ocr_timeout_seconds: float = 300.0
    # Deadline of other calls when the client sends no Grpc-Timeout header, seconds.
    default_timeout_seconds: float = 120.0
    # Deadline for each backend health check, seconds.
    health_timeout_seconds: float = 2.0

    def targets(self) -> dict[str, str]:
        return {
            "ocr": self.ocr_target,
            "asr": self.asr_target,
            "llm": self.llm_target,
            "tts": self.tts_target,
        }

    def timeout_for(self, backend: str) -> float:
        return self.ocr_timeout_seconds if backend == "ocr" else self.default_timeout_seconds
