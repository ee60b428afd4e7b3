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
    # Deadline for an OCR call, seconds.
    ocr_timeout_seconds: float = 300.0
    # Deadline for each backend health check, seconds.
    health_timeout_seconds: float = 2.0
