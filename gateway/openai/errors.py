"""OpenAI's error body, `{"error": {"message", "type", "param", "code"}}`, which its SDKs
turn into typed exceptions (`BadRequestError`, `AuthenticationError`, `RateLimitError` ...).

`gateway/errors.py` decides which body an error gets (by path, `is_openai_path`); this
module only knows OpenAI's shape. It imports nothing from the rest of the gateway so that
every error path (handlers, body limit, rate limiter) can use it.
"""

from fastapi.responses import JSONResponse

# (type, code) that OpenAI's API uses for each HTTP status; others get
# ("invalid_request_error", None) below 500 and ("server_error", None) from 500 on.
_TYPE_AND_CODE: dict[int, tuple[str, str | None]] = {
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("requests", "rate_limit_exceeded"),
}


# Routes under the stack's own prefix that keep OpenAI's semantics, errors included.
_OPENAI_PATHS_ELSEWHERE = frozenset({"/api/v1/chat/completions"})


def is_openai_path(path: str) -> bool:
    """OpenAI-compatible routes, whose clients expect OpenAI's error body."""
    return path.startswith("/v1/") or path in _OPENAI_PATHS_ELSEWHERE


class OpenAIError(Exception):
    """An error an OpenAI-compatible route raises with OpenAI's own fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str | None = None,  # noqa: A002 - OpenAI's field name
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type
        self.headers = headers

    def response(self) -> JSONResponse:
        return openai_error_response(
            self.status,
            self.message,
            param=self.param,
            code=self.code,
            type=self.type,
            headers=self.headers,
        )


def openai_error_body(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    type: str | None = None,  # noqa: A002 - OpenAI's field name
) -> dict:
    default_type, default_code = _TYPE_AND_CODE.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return {
        "error": {
            "message": message,
            "type": type or default_type,
            "param": param,
            "code": code if code is not None else default_code,
        }
    }


def openai_error_response(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    type: str | None = None,  # noqa: A002 - OpenAI's field name
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = openai_error_body(status, message, param=param, code=code, type=type)
    return JSONResponse(body, status_code=status, headers=headers)
