"""Errors a caller can act on; each carries its gRPC code (services/runtime/errors.py)."""

import grpc

from paneas.services.runtime import errors


class AsrError(errors.ServiceError):
    """Base of request-level ASR errors; the message says what is wrong and what to do."""


class InvalidAudio(AsrError):
    """Audio that cannot be decoded, is empty, or is described wrongly."""


class InvalidRequest(AsrError):
    """A request that breaks the protocol (audio before config, config twice, ...)."""


class AudioTooLong(errors.OutOfRange, AsrError):
    """A file or stream past the configured maximum duration."""


class ChunkTooLarge(errors.OutOfRange, AsrError):
    """One streamed chunk over the per-message limit."""


class UnknownModel(AsrError):
    """A model other than the one this instance serves."""

    code = grpc.StatusCode.NOT_FOUND


class Overloaded(errors.Overloaded, AsrError):
    """Every slot is taken; the caller should retry after `retry_after` seconds."""


class NotReady(errors.NotReady, AsrError):
    """The model is still loading."""


class InsightsDisabled(AsrError):
    """A stream asked for LLM insights on an instance that has no LLM to ask."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class StreamFailed(AsrError):
    """A live stream that cannot go on after an unexpected failure of the service's own."""

    code = grpc.StatusCode.INTERNAL


class DiarizationDisabled(AsrError):
    """A request asked for speaker labels on an instance with diarization turned off."""

    code = grpc.StatusCode.FAILED_PRECONDITION
