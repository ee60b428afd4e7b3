"""Jobs settings, from `JOBS_*` environment variables and `DATABASE_URL` (the gateway's
database, shared with analytics: job records live beside the usage rows)."""

from pathlib import Path

from pydantic import Field, PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from paneas.gateway.analytics.settings import async_database_url
from paneas.services.runtime.settings import (
    PLACEHOLDER_MARKERS,
    InsecureSecret,
    secret_problem,
)

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
    # Where inputs and results are stored: file:///absolute/folder, or s3://bucket[/prefix] on
    # any S3-compatible store (the JOBS_S3_* settings below). Empty: `.state/jobs` under the
    # working directory. Every gateway replica and worker must see the same store.
    storage_url: str = ""
    # The S3 endpoint, e.g. http://minio:9000; empty: AWS S3 itself, in JOBS_S3_REGION.
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    # Both empty: boto3's own credential chain (AWS_* variables, an IAM role of the pod or
    # instance). Set, neither may be a placeholder from the example files, and the secret
    # must be at least 16 characters, or the gateway and the worker refuse to start.
    s3_access_key_id: str = Field("", repr=False)
    s3_secret_access_key: str = Field("", repr=False)
    # Uploads go to S3 in parts of this many bytes (multipart upload): memory holds one part
    # per upload in flight. S3 refuses parts under 5 MiB (all but the last).
    s3_part_bytes: int = Field(8 * 1024 * 1024, ge=5 * 1024 * 1024, le=5 * 1024 * 1024 * 1024)
    # Attempts of one S3 request (boto3's own retries, with backoff) before the storage
    # counts as unavailable; and how long to connect, and to wait for an answer, seconds.
    s3_max_attempts: PositiveInt = 3
    s3_connect_timeout_seconds: PositiveFloat = 5.0
    s3_read_timeout_seconds: PositiveFloat = 60.0
    # Largest upload; bigger ones get 413. Applies to /api/v1/jobs instead of
    # GATEWAY_MAX_BODY_BYTES, since recordings are long.
    max_upload_bytes: PositiveInt = 2 * 1024 * 1024 * 1024
    # The job records' database (the gateway's, as analytics).
    database_url: str = Field(
        "sqlite+aiosqlite:///./.state/analytics.db", validation_alias="DATABASE_URL", repr=False
    )
    # Deadline of one transcription's ASR call, seconds (a long recording on a busy CPU).
    asr_timeout_seconds: PositiveFloat = 6 * 3600.0
    # A recording is cut into chunks of about this many seconds (at a pause), decoded in
    # parallel by the ASR instances; 16-bit WAV at 16 kHz is 32 kB a second, so a chunk stays
    # far below the 50 MB gRPC message limit. At most ASR_DECODE_WINDOW_SECONDS (300), so
    # that the service decodes a chunk as one window: each further window costs a part-empty
    # batch (1.17x the decoder's time with 120 s windows, 1.00x with one; docs/benchmarks.md).
    chunk_seconds: float = Field(300.0, ge=30.0, le=1200.0)
    # Chunks of one job in flight at once: about the number of ASR instances (or decode
    # slots) the jobs may keep busy. One more than that keeps them fed between chunks.
    chunk_concurrency: PositiveInt = 2
    # Longest recording a transcription job takes; longer ones fail with `out_of_range`
    # before any decoding when the container states its duration, seconds.
    max_audio_seconds: PositiveFloat = 8 * 3600.0
    # How often a running job's record is updated with its progress, and how often the worker
    # looks for a cancellation, seconds.
    progress_interval_seconds: PositiveFloat = 1.0
    # Redis hands an unacknowledged task to another worker after this long. Tasks are
    # acknowledged when they end (a worker that dies mid-job loses nothing), so it must be
    # longer than the longest job, or a long job would run twice at once, seconds.
    visibility_timeout_seconds: PositiveInt = 12 * 3600
    # How often a worker says its running job is alive (in the job's record); a job whose
    # worker missed three of these (or whose process is gone, on the same host) is given to
    # another worker (`recovery.py`), seconds.
    worker_heartbeat_seconds: PositiveFloat = 10.0
    # How long connecting to the broker (Redis) may take, and one command on it: with Redis
    # down, POST /api/v1/jobs answers 503 within a few of these instead of hanging, seconds.
    broker_timeout_seconds: PositiveFloat = 2.0
    # Deadline of the LLM's summary of a transcript (`summary: true`); past it the job
    # succeeds without one (`summary_error`), seconds.
    summary_timeout_seconds: PositiveFloat = 120.0
    # A job whose ASR service or storage is unavailable goes back to the queue and is tried
    # again after this long, up to the worker's MAX_RETRIES times, then fails, seconds.
    retry_seconds: PositiveFloat = 10.0
    # Key of the webhooks' `X-Paneas-Signature` (HMAC-SHA256), shared with the receivers.
    # Empty: jobs asking for a webhook are refused (400). Set, it must be at least 16
    # characters and no placeholder from the example files, or the gateway and the worker
    # refuse to start.
    webhook_secret: str = Field("", repr=False)
    # Let webhooks reach private, loopback and link-local addresses (a receiver on the same
    # host or network). Off, such targets are refused at creation and again at delivery.
    webhook_allow_private: bool = False
    # Deadline of one delivery attempt (connect, send, answer), seconds.
    webhook_timeout_seconds: PositiveFloat = 10.0
    # Attempts of one delivery, the first included; the n-th retry waits base * 2^(n-1):
    # 6 attempts at 20 s are 20+40+80+160+320 s, about 10 minutes from first to last.
    webhook_attempts: PositiveInt = 6
    webhook_retry_base_seconds: PositiveFloat = 20.0
    # The gateway's public base URL (https://api.example.com): a webhook's `result_url` is
    # absolute with it, a path (/api/v1/jobs/<id>/result) without.
    public_url: str = ""
    # Jobs finished longer ago than this have their input and result deleted and become
    # `expired`, hours (fractions allowed).
    retention_hours: PositiveFloat = 72.0
    # How often the worker looks for jobs to expire, seconds.
    retention_interval_seconds: PositiveFloat = 600.0
    # The worker's /metrics (Prometheus); port 0: none. Loopback unless a scraper elsewhere
    # needs it (compose, Kubernetes: 0.0.0.0).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9455, ge=0, le=65535)
    # How often the worker reads the queue's gauges (queued, running, oldest) from the job
    # records, seconds.
    metrics_interval_seconds: PositiveFloat = 15.0

    def model_post_init(self, context: object) -> None:
        key_id = self.s3_access_key_id.lower()
        if any(marker in key_id for marker in PLACEHOLDER_MARKERS):
            raise InsecureSecret(
                "JOBS_S3_ACCESS_KEY_ID holds a placeholder copied from an example file; set "
                "the access key of the S3 store (compose: MINIO_ROOT_USER)"
            )
        secret = self.s3_secret_access_key
        if secret and (problem := secret_problem("JOBS_S3_SECRET_ACCESS_KEY", secret)):
            raise InsecureSecret(problem)
        if self.webhook_secret and (
            problem := secret_problem("JOBS_WEBHOOK_SECRET", self.webhook_secret)
        ):
            raise InsecureSecret(problem)

    def async_url(self) -> URL:
        return async_database_url(self.database_url)

    def storage(self) -> str:
        return self.storage_url or DEFAULT_STORAGE_DIR.resolve().as_uri()
