"""Errors a caller can act on; each carries its gRPC code and OpenAI's error `code`/`param`."""

import grpc


class LlmError(Exception):
    """Base of request-level LLM errors; the message says what is wrong and what to do."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    openai_code = "invalid_request"

    def __init__(self, message: str, param: str = "") -> None:
        super().__init__(message)
        self.param = param


class InvalidRequest(LlmError):
    """A request OpenAI's API would also refuse."""


class ContextLengthExceeded(LlmError):
    openai_code = "context_length_exceeded"


class UnknownModel(LlmError):
    code = grpc.StatusCode.NOT_FOUND
    openai_code = "model_not_found"


class Overloaded(LlmError):
    """Every engine that could serve is busy; retry after `retry_after` seconds."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    openai_code = "rate_limit_exceeded"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NoEngineAvailable(LlmError):
    """Every engine in the fallback chain failed or has its circuit open."""

    code = grpc.StatusCode.UNAVAILABLE
    openai_code = "engine_unavailable"


class EngineTimeout(LlmError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    openai_code = "timeout"


class GenerationFailed(LlmError):
    """The engine failed after the answer had started; nothing can be retried silently."""

    code = grpc.StatusCode.INTERNAL
    openai_code = "generation_failed"
