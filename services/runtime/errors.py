"""Request-level errors, each carrying the gRPC status that ends the call.

Every service derives its own base from `ServiceError` (`AsrError`, `TtsError`, `LlmError`,
`OcrError`) and each of its errors from that base; the kinds every service shares
(`Overloaded`, `NotReady`, `OutOfRange`) come from here too, mixed in before the service's
base: `class Overloaded(errors.Overloaded, AsrError)`. A servicer then catches its own base
and ends the call with `abort`, so the status and the trailing metadata of each kind are
decided once, here.
"""

from typing import NoReturn

import grpc

from paneas.services.runtime import wire


class ServiceError(Exception):
    """A request the service refuses or cannot serve; the message says what is wrong and
    what to do. By default the request itself is wrong (INVALID_ARGUMENT)."""

    code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        """Metadata sent with the status; subclasses add theirs to their parents'."""
        return ()


class Overloaded(ServiceError):
    """No capacity now; the caller should retry after `retry_after` seconds."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return (
            *super().trailing_metadata(),
            (wire.RETRY_AFTER_MS, str(int(self.retry_after * 1000))),
        )


class NotReady(ServiceError):
    """Models or engines are still loading; retrying shortly will work."""

    code = grpc.StatusCode.UNAVAILABLE


class OutOfRange(ServiceError):
    """Past a configured size or duration limit: this request will never succeed as it is
    (OUT_OF_RANGE, HTTP 400), unlike an overload (RESOURCE_EXHAUSTED, HTTP 429)."""

    code = grpc.StatusCode.OUT_OF_RANGE


async def abort(context: grpc.aio.ServicerContext, error: ServiceError) -> NoReturn:
    """End the call with the error's status, message and trailing metadata."""
    await context.abort(error.code, str(error), trailing_metadata=error.trailing_metadata())
