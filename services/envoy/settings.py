"""Where the launcher's Envoy listens (`ENVOY_*`) and where its directory does (`DIRECTORY_*`)."""

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from paneas.services.envoy.config import DIRECTORY_PORT
from paneas.services.runtime.settings import ServerSettings


class EnvoySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENVOY_", extra="ignore")

    # The gRPC ingress every client (gateway, ASR insights, grpcurl, stubs) goes through.
    host: str = "127.0.0.1"
    port: int = 9000
    # Admin (stats, /clusters, /stats/prometheus): loopback unless told otherwise.
    admin_host: str = "127.0.0.1"
    admin_port: int = 9901
    # How live ASR sessions (x-session-id) map to instances; see docs/benchmarks.md#envoy.
    lb_policy: Literal["MAGLEV", "RING_HASH"] = "MAGLEV"
    # PEM files: terminate TLS on the ingress (clients then use TLS, ALPN h2).
    tls_cert: str = ""
    tls_key: str = ""


class DirectorySettings(ServerSettings):
    """The directory beside Envoy (`python -m paneas.services.envoy.directory`), from
    `DIRECTORY_*`: health and reflection of the whole mesh through the ingress."""

    model_config = SettingsConfigDict(env_prefix="DIRECTORY_", extra="ignore")

    port: int = DIRECTORY_PORT
    # Its Envoy's admin: whose view of the instances health answers from.
    envoy_admin: str = "http://127.0.0.1:9901"
    # How often a health Watch re-reads Envoy's view.
    watch_interval_seconds: float = 1.0
    # Nothing long-running to finish: reflection and health calls are short.
    shutdown_grace_seconds: float = 5.0
