"""Jobs settings, from `JOBS_*` environment variables and `DATABASE_URL` (the gateway's
database, shared with analytics: job records live beside the usage rows)."""

from pathlib import Path

from pydantic import Field, PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from paneas.gateway.analytics.settings import async_database_url

# Where jobs keep their files unless JOBS_STORAGE_URL says otherwise: beside the analytics
# database, in the checkout's state folder.
DEFAULT_STORAGE_DIR = Path(".state") / "jobs"


class JobsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOBS_", extra="ignore")

    # POST /api/v1/jobs and the rest; the embedded stack (`paneas`) turns them on and starts
    # Redis and one worker. On, the gateway needs JOBS_BROKER_URL.
    enabled: bool = False
    # The Celery broker both the gateway and the worker use (redis://host:port/db).
    broker_url: str = Field("", repr=False)
    # The port of the Redis that `paneas` starts on loopback when JOBS_BROKER_URL is empty;
    # 0: a free one.
    redis_port: int = Field(0, ge=0, le=65535)
    # Where inputs and results are stored: file:///absolute/folder (S3 is for later). Empty:
    # `.state/jobs` under the working directory.
    storage_url: str = ""
    # Largest upload; bigger ones get 413. Applies to /api/v1/jobs instead of
    # GATEWAY_MAX_BODY_BYTES, since recordings are long.
    max_upload_bytes: PositiveInt = 2 * 1024 * 1024 * 1024
    # The job records' database (the gateway's, as analytics).
    database_url: str = Field(
        "sqlite+aiosqlite:///./.state/analytics.db", validation_alias="DATABASE_URL", repr=False
    )
    # Deadline of one transcription's ASR call, seconds (a long recording on a busy CPU).
    asr_timeout_seconds: PositiveFloat = 6 * 3600.0
    # How often a running job's record is updated with its progress, and how often the worker
    # looks for a cancellation, seconds.
    progress_interval_seconds: PositiveFloat = 1.0
    # Redis hands an unacknowledged task to another worker after this long. Tasks are
    # acknowledged when they end (a worker that dies mid-job loses nothing), so it must be
    # longer than the longest job, or a long job would run twice at once, seconds.
    visibility_timeout_seconds: PositiveInt = 12 * 3600

    def async_url(self) -> URL:
        return async_database_url(self.database_url)

    def storage(self) -> str:
        return self.storage_url or DEFAULT_STORAGE_DIR.resolve().as_uri()
