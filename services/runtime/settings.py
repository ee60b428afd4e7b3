"""Settings shared by every service, from the environment (pydantic-settings).

`RuntimeSettings` holds what is the same for the whole stack (tokens, limits, logging) and has
no prefix; each service subclasses `ServerSettings` with its own prefix (`OCR_PORT`, ...).
Lists are written comma-separated in the environment (`API_TOKENS=a,b`).
"""

from typing import Annotated

from pydantic import BeforeValidator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


# Marks a list field as comma-separated in the environment instead of JSON.
CommaSeparated = (NoDecode, BeforeValidator(_split_commas))


class RuntimeSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    # Bearer tokens accepted on every API (REST, WebSocket, gRPC).
    api_tokens: Annotated[list[str], *CommaSeparated] = []
    # Let grpcurl and other reflection clients in without a token.
    auth_exempt_reflection: bool = False
    grpc_max_message_bytes: int = 50 * 1024 * 1024
    log_level: str = "INFO"
    # "json" for machines, "console" for people at a terminal.
    log_format: str = "json"
    # Standard OpenTelemetry variable; traces are exported over OTLP/gRPC when it is set.
    otel_exporter_otlp_endpoint: str = ""


class ServerSettings(BaseSettings):
    """Where one gRPC service listens. Subclasses set `env_prefix` and their defaults."""

    host: str = "127.0.0.1"
    port: int = 0
    # Prometheus metrics over HTTP; 0 turns the endpoint off.
    metrics_port: int = 0
    # Name of this process in the `x-paneas-instance` response header (`ASR_INSTANCE=asr-0`);
    # empty: host:port.
    instance: str = ""
    # Seconds in-flight RPCs get to finish after SIGTERM.
    shutdown_grace_seconds: float = 30.0
