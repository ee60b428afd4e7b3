"""gRPC status -> HTTP, as grpc-gateway maps them, with a google.rpc.Status JSON body."""

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

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


def status_body(code: grpc.StatusCode, message: str) -> dict:
    return {"code": code.value[0], "message": message, "details": []}


def status_response(
    http_status: int, code: grpc.StatusCode, message: str, headers: dict | None = None
) -> JSONResponse:
    return JSONResponse(status_body(code, message), status_code=http_status, headers=headers)


async def _grpc_error(_request: Request, error: grpc.aio.AioRpcError) -> JSONResponse:
    code = error.code()
    message = error.details() or code.name
    if code is grpc.StatusCode.UNAVAILABLE and "connect" in message.lower():
        message = f"backend service unreachable: {message}"
    return status_response(HTTP_STATUS_BY_CODE.get(code, 500), code, message)


async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()
    )
    return status_response(400, grpc.StatusCode.INVALID_ARGUMENT, problems)


async def _http_error(_request: Request, error: HTTPException) -> JSONResponse:
    code = _CODE_BY_HTTP_STATUS.get(error.status_code, grpc.StatusCode.UNKNOWN)
    return status_response(error.status_code, code, str(error.detail), error.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(grpc.aio.AioRpcError, _grpc_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
