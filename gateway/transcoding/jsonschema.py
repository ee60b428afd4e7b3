"""JSON Schema of a protobuf message as the gateway's JSON reads and writes it (proto field
names, enums by name, 64-bit integers as strings, bytes as base64), for /openapi.json."""

from google.protobuf.descriptor import Descriptor, FieldDescriptor

_F = FieldDescriptor
_INT64_TYPES = {_F.TYPE_INT64, _F.TYPE_UINT64, _F.TYPE_SINT64, _F.TYPE_FIXED64, _F.TYPE_SFIXED64}
_INT32_TYPES = {_F.TYPE_INT32, _F.TYPE_UINT32, _F.TYPE_SINT32, _F.TYPE_FIXED32, _F.TYPE_SFIXED32}
_UNSIGNED = {_F.TYPE_UINT32, _F.TYPE_FIXED32, _F.TYPE_UINT64, _F.TYPE_FIXED64}

_WELL_KNOWN = {
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?s$"},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
}


def message_schema(descriptor: Descriptor, _seen: frozenset[str] = frozenset()) -> dict:
    if descriptor.full_name in _WELL_KNOWN:
        return dict(_WELL_KNOWN[descriptor.full_name])
    if descriptor.full_name in _seen:  # recursive message: stop describing
        return {"type": "object"}
    seen = _seen | {descriptor.full_name}
    properties = {field.name: _field_schema(field, seen) for field in descriptor.fields}
    return {
        "type": "object",
        "title": descriptor.name,
        "properties": properties,
        "additionalProperties": False,
    }


def _field_schema(field: FieldDescriptor, seen: frozenset[str]) -> dict:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        return {"type": "object", "additionalProperties": _single_schema(value_field, seen)}
    single = _single_schema(field, seen)
    if field.is_repeated:
        return {"type": "array", "items": single}
    return single


def _single_schema(field: FieldDescriptor, seen: frozenset[str]) -> dict:
    kind = field.type
    if kind == _F.TYPE_MESSAGE:
        return message_schema(field.message_type, seen)
    if kind == _F.TYPE_ENUM:
        return {"type": "string", "enum": [value.name for value in field.enum_type.values]}
    if kind == _F.TYPE_BOOL:
        return {"type": "boolean"}
    if kind == _F.TYPE_STRING:
        return {"type": "string"}
    if kind == _F.TYPE_BYTES:
        return {"type": "string", "format": "byte", "contentEncoding": "base64"}
    if kind in (_F.TYPE_DOUBLE, _F.TYPE_FLOAT):
        return {"type": "number"}
    if kind in _INT32_TYPES:
        if kind in _UNSIGNED:
            return {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}
        return {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
    if kind in _INT64_TYPES:
        pattern = r"^[0-9]+$" if kind in _UNSIGNED else r"^-?[0-9]+$"
        return {"type": "string", "pattern": pattern, "format": "int64"}
    raise ValueError(f"unsupported field type {kind} of {field.full_name}")
