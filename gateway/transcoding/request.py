"""Builds an RPC's request message from the HTTP request: body, path and query parameters."""

import json

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from starlette.requests import Request

from paneas.gateway.transcoding.rules import HttpBinding


class BadRequest(ValueError):
    """The HTTP request does not make a valid RPC request; the message says why."""


async def build_request(binding: HttpBinding, message_class: type[Message], request: Request):
    message = message_class()
    if binding.body:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BadRequest(f"request body is not valid JSON: {error}") from error
        _merge(message, body if binding.body == "*" else {binding.body: body})
    bound = {}
    for variable in binding.path_variables:
        value = request.path_params[variable.replace(".", "__")]
        _set_path(bound, variable, _convert(message.DESCRIPTOR, variable, [value]))
    if binding.body != "*":
        for key in request.query_params:
            values = request.query_params.getlist(key)
            _set_path(bound, key, _convert(message.DESCRIPTOR, key, values))
    _merge(message, bound)
    return message


def _merge(message: Message, data: object) -> None:
    if not isinstance(data, dict):
        raise BadRequest(f"request body must be a JSON object for {message.DESCRIPTOR.name}")
    try:
        json_format.ParseDict(data, message)
    except json_format.ParseError as error:
        raise BadRequest(str(error)) from error


def _field_at(descriptor: Descriptor, path: str) -> FieldDescriptor:
    field = None
    for part in path.split("."):
        if descriptor is None or part not in descriptor.fields_by_name:
            raise BadRequest(f"unknown parameter {path!r}")
        field = descriptor.fields_by_name[part]
        descriptor = field.message_type
    if field is None or field.type == FieldDescriptor.TYPE_MESSAGE:
        raise BadRequest(f"parameter {path!r} does not name a scalar field")
    return field


def _convert(descriptor: Descriptor, path: str, values: list[str]) -> object:
    """Query/path strings to the JSON values ParseDict expects for the field."""
    field = _field_at(descriptor, path)
    converted = [_scalar(field, path, value) for value in values]
    if field.is_repeated:
        return converted
    if len(converted) > 1:
        raise BadRequest(f"parameter {path!r} given more than once")
    return converted[0]


def _scalar(field: FieldDescriptor, path: str, value: str) -> object:
    if field.type == FieldDescriptor.TYPE_BOOL:
        if value.lower() not in ("true", "false"):
            raise BadRequest(f"parameter {path!r} must be true or false, not {value!r}")
        return value.lower() == "true"
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        try:
            return float(value)
        except ValueError as error:
            raise BadRequest(f"parameter {path!r} must be a number, not {value!r}") from error
    return value  # strings, enums by name, integers and base64 bytes parse from strings


def _set_path(target: dict, path: str, value: object) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value
