"""Errors a caller can act on; each carries its gRPC code (services/runtime/errors.py)."""

import grpc

from paneas.services.runtime import errors


class TtsError(errors.ServiceError):
    """Base of request-level TTS errors; the message says what is wrong and what to do."""


class InvalidRequest(TtsError):
    """Empty or too long text, speed or sample rate out of range, a language the voice lacks."""


class AudioTooLarge(errors.OutOfRange, TtsError):
    """A unary answer that would not fit in one gRPC message."""


class UnknownVoice(TtsError):
    code = grpc.StatusCode.NOT_FOUND


class Overloaded(errors.Overloaded, TtsError):
    """Every worker is busy and the queue is full; retry after `retry_after` seconds."""


class SynthesisFailed(TtsError):
    """The engine failed on the text."""

    code = grpc.StatusCode.INTERNAL


class NotReady(errors.NotReady, TtsError):
    """The engines are still loading."""
