"""Settings shared by every service, from the environment (pydantic-settings).

`RuntimeSettings` holds what is the same for the whole stack (tokens, limits, logging) and has
no prefix; each service subclasses `ServerSettings` with its own prefix (`OCR_PORT`, ...).
Lists are written comma-separated in the environment (`API_TOKENS=a,b`).
"""

from typing import Annotated
from urllib.parse import unquote, urlsplit

from pydantic import BeforeValidator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


# Marks a list field as comma-separated in the environment instead of JSON.
CommaSeparated = (NoDecode, BeforeValidator(_split_commas))

# Shortest token or secret accepted: 16 characters (`openssl rand -hex 24` gives 48).
MIN_SECRET_CHARS = 16
# Words of the placeholders in deploy/compose/.env.example and deploy/k8s/secret.example.yaml
# and their usual variants: a value containing one was copied, not generated.
PLACEHOLDER_MARKERS = ("change-me", "changeme", "change_me", "replace-me", "placeholder")


class InsecureSecret(SystemExit):
    """A placeholder or too-short secret in the configuration. Ends the process with its
    message alone (no traceback, and never the secret itself: a pydantic validation error
    would print the input value)."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"refusing to start: {problem}")


def secret_problem(name: str, value: str) -> str | None:
    """Why `value` must not be used as the secret `name` (a placeholder, too short), or None.

    Shared by every component that reads a secret (the services' and the gateway's tokens,
    the gateway's ticket secret, the Redis and PostgreSQL passwords in its URLs), so they
    refuse the same values with the same words."""
    lowered = value.lower()
    if any(marker in lowered for marker in PLACEHOLDER_MARKERS):
        return (
            f"{name} holds a placeholder ({value[:4]}...) copied from an example file; "
            "generate a real one, e.g. `openssl rand -hex 24`"
        )
    if len(value) < MIN_SECRET_CHARS:
        return (
            f"{name} holds a value of {len(value)} characters; use at least "
            f"{MIN_SECRET_CHARS}, e.g. `openssl rand -hex 24`"
        )
    return None


def url_password_problem(name: str, url: str) -> str | None:
    """`secret_problem` for the password a URL carries (`redis://:<password>@redis:6379/0`,
    `postgresql://paneas:<password>@postgres/paneas`), or None when it carries none (a local
    server without authentication, SQLite)."""
    password = urlsplit(url).password
    return secret_problem(name, unquote(password)) if password else None


class RuntimeSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    # Bearer tokens accepted on every API (REST, WebSocket, gRPC); each at least 16
    # characters and none a placeholder from the example files, or the process refuses to
    # start. Empty: one is generated per process (the launcher generates one for the stack).
    api_tokens: Annotated[list[str], *CommaSeparated] = []
    # Let grpcurl and other reflection clients in without a token.
    auth_exempt_reflection: bool = False
    grpc_max_message_bytes: int = 50 * 1024 * 1024
    log_level: str = "INFO"
    # "json" for machines, "console" for people at a terminal.
    log_format: str = "json"
    # Standard OpenTelemetry variable; traces are exported over OTLP/gRPC when it is set.
    otel_exporter_otlp_endpoint: str = ""

    def model_post_init(self, context: object) -> None:
        tokens = self.api_tokens
        for index, token in enumerate(tokens, 1):
            if problem := secret_problem(f"API_TOKENS (token {index} of {len(tokens)})", token):
                raise InsecureSecret(problem)


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
