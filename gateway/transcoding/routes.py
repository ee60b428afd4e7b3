"""Adds a FastAPI route per annotated RPC of every deployed service.

Unary RPCs answer JSON; server-streaming RPCs answer newline-delimited JSON
(`{"result": ...}` per message, `{"error": ...}` if the stream fails), as grpc-gateway does.
"""

from collections.abc import AsyncIterator

import grpc
from fastapi import Depends, FastAPI
from google.protobuf import message_factory
from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from paneas.gateway import calls
from paneas.gateway.auth import require_token
from paneas.gateway.backends import backend_of
from paneas.gateway.errors import HTTP_STATUS_BY_CODE, status_body, status_response
from paneas.gateway.metadata import grpc_metadata
from paneas.gateway.protojson import to_json
from paneas.gateway.settings import GatewaySettings
from paneas.gateway.transcoding.jsonschema import message_schema
from paneas.gateway.transcoding.request import BadRequest, build_request
from paneas.gateway.transcoding.rules import HttpBinding, http_bindings


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
        except (BadRequest, ValueError) as error:
            return status_response(400, grpc.StatusCode.INVALID_ARGUMENT, str(error))
        deadline = calls.deadline(request, timeout)
        channel = request.app.state.backends.channels[backend]
        call = getattr(channel, call_kind)(
            binding.rpc,
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )(message, metadata=grpc_metadata(request), timeout=deadline)
        if binding.method.server_streaming:
            return await _stream(call, request, binding)
        # A client that leaves cancels the call (499), so the backend stops working for nobody.
        response = await calls.unary(request, call, binding.rpc)
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


async def _stream(
    call: grpc.aio.UnaryStreamCall, request: Request, binding: HttpBinding
) -> Response:
    # An immediate failure gets a proper HTTP status; one mid-stream, an `{"error": ...}` line.
    messages = await calls.server_stream(request, call, binding.rpc)

    async def results() -> AsyncIterator[dict]:
        async for message in messages:
            yield {"result": _body_of(message, binding.response_body)}

    return calls.ndjson_response(results(), call, _error_line)


def _error_line(error: grpc.aio.AioRpcError) -> dict:
    return {"error": status_body(error.code(), error.details() or "")}


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
    media = calls.NDJSON if binding.method.server_streaming else "application/json"
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
