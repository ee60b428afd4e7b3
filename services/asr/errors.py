"""Errors a caller can act on; the servicer maps each to its gRPC code."""

import grpc


class AsrError(Exception):
    """Base of request-level ASR errors; the message says what is wrong and what to do."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class InvalidAudio(AsrError):
    """Audio that cannot be decoded, is empty, or is described wrongly."""


class InvalidRequest(AsrError):
    """A request that breaks the protocol (audio before config, config twice, ...)."""


class AudioTooLong(AsrError):
    """A file or stream past the configured maximum duration."""

    code = grpc.StatusCode.OUT_OF_RANGE


class ChunkTooLarge(AsrError):
    """One streamed chunk over the per-message limit."""

    code = grpc.StatusCode.OUT_OF_RANGE


class UnknownModel(AsrError):
    """A model other than the one this instance serves."""

    code = grpc.StatusCode.NOT_FOUND


class Overloaded(AsrError):
    """Every slot is taken; the caller should retry after `retry_after` seconds."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotReady(AsrError):
    """The model is still loading."""

    code = grpc.StatusCode.UNAVAILABLE


class InsightsDisabled(AsrError):
    """A stream asked for LLM insights on an instance that has no LLM to ask."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class StreamFailed(AsrError):
    """A live stream that cannot go on after an unexpected failure of the service's own."""

    code = grpc.StatusCode.INTERNAL
