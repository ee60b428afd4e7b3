"""Errors a caller can act on; the servicer maps each to its gRPC code."""

import grpc


class TtsError(Exception):
    """Base of request-level TTS errors; the message says what is wrong and what to do."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class InvalidRequest(TtsError):
    """Empty or too long text, speed or sample rate out of range, a language the voice lacks."""


class AudioTooLarge(TtsError):
    """A unary answer that would not fit in one gRPC message."""

    code = grpc.StatusCode.OUT_OF_RANGE


class UnknownVoice(TtsError):
    code = grpc.StatusCode.NOT_FOUND


class Overloaded(TtsError):
    """Every worker is busy and the queue is full; retry after `retry_after` seconds."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SynthesisFailed(TtsError):
    """The engine failed on the text."""

    code = grpc.StatusCode.INTERNAL


class NotReady(TtsError):
    """The engines are still loading."""

    code = grpc.StatusCode.UNAVAILABLE
