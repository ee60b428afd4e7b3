"""gRPC status -> HTTP, as grpc-gateway maps them.

The body is a google.rpc.Status `{"code", "message", "details"}`, except on the
OpenAI-compatible routes (`/v1/...`), whose clients expect OpenAI's
`{"error": {"message", "type", "param", "code"}}`: `error_response` is the one place that
chooses, and every refusal (handlers, body limit, rate limiter) goes through it.
"""

import math
from collections.abc import Sequence
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from paneas.gateway.openai.errors import (
    OpenAIError,
    is_openai_path,
    openai_error_body,
    openai_error_response,
)
from paneas.services.runtime import wire

# grpc-gateway runtime.HTTPStatusFromCode.
HTTP_STATUS_BY_CODE: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

# The reverse, for errors the gateway raises itself.
_CODE_BY_HTTP_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    409: grpc.StatusCode.ABORTED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}

# Trailing metadata in which a service says how long a refused caller should wait:
# milliseconds (what the Paneas services send) or seconds.
_RETRY_AFTER_METADATA = {wire.RETRY_AFTER_MS: 0.001, "retry-after": 1.0}
# Retry-After of a RESOURCE_EXHAUSTED whose service named no delay, seconds.
_DEFAULT_RETRY_AFTER = 1

# The service behind each route, by path prefix: a 503 names the service that is down.
_SERVICE_BY_PATH_PREFIX = (
    ("/api/v1/ocr", "ocr"),
    ("/api/v1/asr", "asr"),
    ("/api/v1/align", "asr"),
    ("/v1/audio/transcriptions", "asr"),
    ("/v1/audio/translations", "asr"),
    ("/api/v1/tts", "tts"),
    ("/v1/audio/speech", "tts"),
    ("/api/v1/llm", "llm"),
    ("/api/v1/chat/", "llm"),
    ("/v1/chat/", "llm"),
    ("/v1/models", "llm"),
)


def service_of_path(path: str) -> str | None:
    """'/v1/chat/completions' -> 'llm': the backend service a route calls."""
    return next((name for prefix, name in _SERVICE_BY_PATH_PREFIX if path.startswith(prefix)), None)


def status_body(code: grpc.StatusCode, message: str) -> dict:
    return {"code": code.value[0], "message": message, "details": []}


def status_response(
    http_status: int, code: grpc.StatusCode, message: str, headers: dict | None = None
) -> JSONResponse:
    return JSONResponse(status_body(code, message), status_code=http_status, headers=headers)


def error_response(
    path: str,
    http_status: int,
    code: grpc.StatusCode,
    message: str,
    headers: dict | None = None,
    *,
    param: str | None = None,
) -> JSONResponse:
    """The error body the route at `path` speaks: OpenAI's on `/v1/`, google.rpc.Status
    elsewhere."""
    if is_openai_path(path):
        return openai_error_response(http_status, message, param=param, headers=headers)
    return status_response(http_status, code, message, headers)


def grpc_error_message(error: grpc.aio.AioRpcError, service: str | None = None) -> str:
    """The service's message; an UNAVAILABLE one the service did not send itself names the
    `service` that is down (or restarting, or not deployed), so a caller knows which part of
    the stack to look at."""
    code = error.code()
    message = error.details() or code.name
    # An error the service classified itself (the LLM's `engine_unavailable`) carries its
    # code: the service answered.
    answered = any(key == wire.ERROR_CODE for key, _ in error.trailing_metadata() or ())
    if code is grpc.StatusCode.UNAVAILABLE and not answered:
        if service:
            message = (
                f"the {service} service is unavailable (GET /api/v1/health shows each "
                f"service): {message}"
            )
        elif "connect" in message.lower():
            message = f"backend service unreachable: {message}"
    return message


def openai_stream_error(error: grpc.aio.AioRpcError, service: str) -> dict:
    """OpenAI's error body as the last event of a stream that failed after its status line
    went out; `service` as for `grpc_error_message`."""
    http_status = HTTP_STATUS_BY_CODE.get(error.code(), 500)
    return openai_error_body(http_status, grpc_error_message(error, service))


def retry_after_seconds(error: grpc.aio.AioRpcError) -> int | None:
    """For RESOURCE_EXHAUSTED, the wait the service asked for (whole seconds, at least 1)."""
    if error.code() is not grpc.StatusCode.RESOURCE_EXHAUSTED:
        return None
    for key, value in error.trailing_metadata() or ():
        if key in _RETRY_AFTER_METADATA:
            try:
                return max(1, math.ceil(float(value) * _RETRY_AFTER_METADATA[key]))
            except (TypeError, ValueError):
                break
    return _DEFAULT_RETRY_AFTER


def grpc_error_response(path: str, error: grpc.aio.AioRpcError) -> JSONResponse:
    code = error.code()
    retry_after = retry_after_seconds(error)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    message = grpc_error_message(error, service_of_path(path))
    return error_response(path, HTTP_STATUS_BY_CODE.get(code, 500), code, message, headers)


async def _grpc_error(request: Request, error: grpc.aio.AioRpcError) -> JSONResponse:
    return grpc_error_response(request.url.path, error)


def describe_problems(problems: Sequence[Any], within: str = "") -> str:
    """Pydantic's validation errors as one line, "where: what; ...", each place prefixed with
    `within` (the field the model was read from, as the client named it)."""

    def where(location: Sequence[object]) -> str:
        path = ".".join(str(part) for part in location)
        return f"{within}.{path}" if within and path else path or within

    return "; ".join(f"{where(item['loc'])}: {item['msg']}" for item in problems)


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = error.errors()
    if problems and problems[0]["type"] == "json_invalid":
        # Its location is a character offset, not a parameter.
        detail, offset = problems[0].get("ctx", {}).get("error", ""), problems[0]["loc"][-1]
        message = f"the request body is not valid JSON: {detail} (at character {offset})"
        return error_response(request.url.path, 400, grpc.StatusCode.INVALID_ARGUMENT, message)
    message = describe_problems(problems)
    # OpenAI names the first offending parameter: ("body", "timestamp_granularities[]", 0)
    # -> "timestamp_granularities".
    location = problems[0]["loc"] if problems else ()
    param = str(location[1]).removesuffix("[]") if len(location) > 1 else None
    return error_response(
        request.url.path, 400, grpc.StatusCode.INVALID_ARGUMENT, message, param=param
    )


def http_error_response(path: str, error: HTTPException) -> JSONResponse:
    """The answer to an HTTPException raised by the route at `path`."""
    code = _CODE_BY_HTTP_STATUS.get(error.status_code, grpc.StatusCode.UNKNOWN)
    return error_response(path, error.status_code, code, str(error.detail), error.headers)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    return http_error_response(request.url.path, error)


async def _openai_error(_request: Request, error: OpenAIError) -> JSONResponse:
    return error.response()


async def _unexpected_error(request: Request, _error: Exception) -> JSONResponse:
    # Starlette re-raises the exception after this answer, so the server still logs it.
    return error_response(
        request.url.path, 500, grpc.StatusCode.INTERNAL, "internal error in the gateway"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(grpc.aio.AioRpcError, _grpc_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(OpenAIError, _openai_error)
    app.add_exception_handler(Exception, _unexpected_error)
