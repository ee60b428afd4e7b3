"""Errors a caller can act on; each carries its gRPC code (services/runtime/errors.py) and
OpenAI's error `code`/`param`, which travel in trailing metadata for the gateway's body."""

import grpc

from paneas.services.runtime import errors, wire


class LlmError(errors.ServiceError):
    """Base of request-level LLM errors; the message says what is wrong and what to do."""

    openai_code = "invalid_request"

    def __init__(self, message: str, param: str = "") -> None:
        super().__init__(message)
        self.param = param

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        own = [(wire.ERROR_CODE, self.openai_code)]
        if self.param:
            own.append((wire.ERROR_PARAM, self.param))
        return (*super().trailing_metadata(), *own)


class InvalidRequest(LlmError):
    """A request OpenAI's API would also refuse."""


class ContextLengthExceeded(LlmError):
    openai_code = "context_length_exceeded"


class UnknownModel(LlmError):
    code = grpc.StatusCode.NOT_FOUND
    openai_code = "model_not_found"


class Overloaded(errors.Overloaded, LlmError):
    """Every engine that could serve is busy; retry after `retry_after` seconds."""

    openai_code = "rate_limit_exceeded"


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
