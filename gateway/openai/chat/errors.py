"""LlmService errors in OpenAI's body, and the served model as response headers.

The service puts OpenAI's error `code` and `param` in trailing metadata, so the body says
`context_length_exceeded` or `model_not_found` as OpenAI's would, not only the HTTP status.
"""

import grpc

from paneas.gateway.errors import HTTP_STATUS_BY_CODE, grpc_error_message, retry_after_seconds
from paneas.gateway.openai.errors import OpenAIError, openai_error_body
from paneas.services.runtime import wire


def _value(metadata: grpc.aio.Metadata | None, key: str) -> str | None:
    for name, value in metadata or ():
        if name == key:
            return value
    return None


def served_headers(metadata: grpc.aio.Metadata | None) -> dict[str, str]:
    """`x-paneas-model` (the model that served, after routing and fallback) and
    `x-paneas-route` (why), when the service sent them; the headers have the metadata's
    names."""
    served = (wire.SERVED_MODEL, wire.SERVED_ROUTE)
    return {key: value for key in served if (value := _value(metadata, key))}


def llm_error(error: grpc.aio.AioRpcError) -> OpenAIError:
    code = error.code()
    trailing = error.trailing_metadata()
    openai_code = _value(trailing, wire.ERROR_CODE)
    param = _value(trailing, wire.ERROR_PARAM)
    if code is grpc.StatusCode.NOT_FOUND:
        openai_code, param = openai_code or "model_not_found", param or "model"
    headers = served_headers(error.initial_metadata())
    if (retry_after := retry_after_seconds(error)) is not None:
        headers["Retry-After"] = str(retry_after)
    return OpenAIError(
        HTTP_STATUS_BY_CODE.get(code, 500),
        grpc_error_message(error, "llm"),
        param=param,
        code=openai_code,
        headers=headers or None,
    )


def llm_error_body(error: grpc.aio.AioRpcError) -> dict:
    """The `data:` of a stream that failed after it started."""
    converted = llm_error(error)
    return openai_error_body(
        converted.status, converted.message, param=converted.param, code=converted.code
    )
