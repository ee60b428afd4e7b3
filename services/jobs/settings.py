"""Jobs service settings, from `JOBS_GRPC_*` environment variables. What the jobs need
(database, broker, storage, limits) comes from the `JOBS_*` and `DATABASE_URL` variables the
gateway and the worker read (`gateway/jobs/settings.py`), and which services a job type needs
from the gateway's targets (`GATEWAY_ASR_TARGET`, `GATEWAY_OCR_TARGET`), as the worker reads
them."""

from pydantic_settings import SettingsConfigDict

from paneas.services.runtime import wire
from paneas.services.runtime.settings import ServerSettings


class JobServiceSettings(ServerSettings):
    # Not `JOBS_`: JOBS_METRICS_PORT is the worker's.
    model_config = SettingsConfigDict(env_prefix="JOBS_GRPC_", extra="ignore")

    port: int = wire.DEFAULT_PORTS["jobs"]
    metrics_port: int = wire.DEFAULT_METRICS_PORTS["jobs"]
