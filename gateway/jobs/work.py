"""What every job type's work shares with the worker that runs it (`worker.run_job`): how it
ends (Done, Failed, Cancelled) and how it calls a service."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import Row

from paneas.gateway.jobs.settings import JobsSettings
from paneas.gateway.jobs.storage import Storage
from paneas.gateway.jobs.store import JobStore
from paneas.services.runtime.settings import RuntimeSettings


class Cancelled(Exception):
    """The job's record left `running` while it ran."""


class Failed(Exception):
    """The job cannot be done as it is: it fails with `code` and this message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Done:
    """What a job's work leaves: the result to store as it is (protobuf bytes), the seconds
    of audio the job held (None for a document), and a transcript's summary."""

    result: bytes
    duration_seconds: float | None = None
    # A transcript's summary (`summary: true`), or the code and message of why it has none.
    summary: str | None = None
    summary_error: tuple[str, str] | None = None


# A job type's own work, between the job's start and its result being stored: returns Done
# or raises Cancelled, Failed, a service's grpc.aio.AioRpcError or StorageUnavailable.
Work = Callable[[Row, JobStore, Storage, JobsSettings, RuntimeSettings], Awaitable[Done]]


def grpc_options(runtime: RuntimeSettings) -> list[tuple[str, int]]:
    return [
        ("grpc.max_send_message_length", runtime.grpc_max_message_bytes),
        ("grpc.max_receive_message_length", runtime.grpc_max_message_bytes),
    ]


def call_metadata(runtime: RuntimeSettings, job_id: str) -> tuple[tuple[str, str], ...]:
    """A job's calls to a service: as the first of API_TOKENS, the job id as request id."""
    token = runtime.api_tokens[0] if runtime.api_tokens else ""
    return (("authorization", f"Bearer {token}"), ("x-request-id", job_id))
