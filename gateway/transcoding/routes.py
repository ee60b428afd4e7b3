"""Adds a FastAPI route per annotated RPC of every deployed service.

Unary RPCs answer JSON; server-streaming RPCs answer newline-delimited JSON
(`{"result": ...}` per message, `{"error": ...}` if the stream fails), as grpc-gateway does.
"""

import json
from collections.abc import AsyncIterator

import grpc
from fastapi import Depends, FastAPI
from google.protobuf import message_factory
from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from paneas.gateway.auth import require_token
from paneas.gateway.backends import backend_of
from paneas.gateway.disconnect import unless_disconnected
from paneas.gateway.errors import HTTP_STATUS_BY_CODE, status_body, status_response
from paneas.gateway.metadata import deadline_seconds, grpc_metadata
from paneas.gateway.protojson import to_json
from paneas.gateway.settings import GatewaySettings
from paneas.gateway.transcoding.jsonschema import message_schema
from paneas.gateway.transcoding.request import BadRequest, build_request
from paneas.gateway.transcoding.rules import HttpBinding, http_bindings
from paneas.gateway.usage import record_response_usage

NDJSON = "application/x-ndjson"


def install_transcoded_routes(app: FastAPI, settings: GatewaySettings) -> None:
    deployed = {name for name, target in settings.targets().items() if target}
    for binding in http_bindings():
        backend = backend_of(binding.service.full_name)
        if backend in deployed:
            _add_route(app, binding, backend, settings.timeout_for(backend))


def _add_route(app: FastAPI, binding: HttpBinding, backend: str, timeout: float) -> None:
    request_class = message_factory.GetMessageClass(binding.method.input_type)
    response_class = message_factory.GetMessageClass(binding.method.output_type)
    call_kind = "unary_stream" if binding.method.server_streaming else "unary_unary"

    async def endpoint(request: Request) -> Response:
        try:
            message = await build_request(binding, request_class, request)
            deadline = deadline_seconds(request, timeout)
        except (BadRequest, ValueError) as error:
            return status_response(400, grpc.StatusCode.INVALID_ARGUMENT, str(error))
        channel = request.app.state.backends.channels[backend]
        call = getattr(channel, call_kind)(
            binding.rpc,
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )(message, metadata=grpc_metadata(request), timeout=deadline)
        if binding.method.server_streaming:
            return await _stream(call, request, binding)
        # A client that leaves cancels the call (499), so the backend stops working for nobody.
        response = await unless_disconnected(request, call, call)
        record_response_usage(request, binding.rpc, response)
        return JSONResponse(_body_of(response, binding.response_body))

    app.add_api_route(
        binding.route_path,
        endpoint,
        methods=[binding.verb],
        dependencies=[Depends(require_token)],
        name=binding.rpc,
        operation_id=f"{binding.service.name}_{binding.method.name}",
        summary=f"{binding.service.name}.{binding.method.name}",
        description=_comment_of(binding),
        tags=[backend],
        openapi_extra=_openapi(binding, request_class, response_class),
    )


async def _stream(call, request: Request, binding: HttpBinding) -> Response:
    # Wait for the first message so that an immediate failure gets a proper HTTP status;
    # once streaming, a client that leaves ends the generator below, which cancels the call.
    first = await unless_disconnected(request, call, call.read())

    async def lines() -> AsyncIterator[bytes]:
        message = first
        try:
            while message is not grpc.aio.EOF:
                record_response_usage(request, binding.rpc, message)
                yield _line({"result": _body_of(message, binding.response_body)})
                message = await call.read()
        except grpc.aio.AioRpcError as error:
            yield _line({"error": status_body(error.code(), error.details() or "")})
        finally:
            call.cancel()  # the client left or the stream ended: free the backend at once

    return StreamingResponse(lines(), media_type=NDJSON)


def _line(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode() + b"\n"


def _body_of(message: Message, response_body: str) -> object:
    data = to_json(message)
    return data.get(response_body) if response_body else data


def _comment_of(binding: HttpBinding) -> str:
    return f"Transcoded to gRPC `{binding.rpc}`."


def _openapi(
    binding: HttpBinding, request_class: type[Message], response_class: type[Message]
) -> dict:
    extra: dict = {}
    request_schema = message_schema(request_class.DESCRIPTOR)
    if binding.body:
        schema = (
            request_schema if binding.body == "*" else request_schema["properties"][binding.body]
        )
        extra["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": schema}},
        }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in binding.path_variables
    ]
    if binding.body != "*":
        for name, schema in request_schema["properties"].items():
            if name not in binding.path_variables and schema.get("type") != "object":
                parameters.append(
                    {"name": name, "in": "query", "required": False, "schema": schema}
                )
    if parameters:
        extra["parameters"] = parameters
    response_schema = message_schema(response_class.DESCRIPTOR)
    media = NDJSON if binding.method.server_streaming else "application/json"
    if binding.method.server_streaming:
        response_schema = {"type": "object", "properties": {"result": response_schema}}
    extra["responses"] = {
        "200": {"description": "OK", "content": {media: {"schema": response_schema}}},
        **_error_responses(),
    }
    return extra


def _error_responses() -> dict:
    status_schema = {
        "type": "object",
        "properties": {
            "code": {"type": "integer"},
            "message": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object"}},
        },
    }
    statuses = sorted({code for code in HTTP_STATUS_BY_CODE.values() if code >= 400})
    return {
        str(code): {
            "description": "google.rpc.Status",
            "content": {"application/json": {"schema": status_schema}},
        }
        for code in statuses
    }
