"""Where the launcher's Envoy listens, from `ENVOY_*` environment variables."""

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


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
