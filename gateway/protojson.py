"""Protobuf messages as the gateway's JSON: snake_case field names, enums by name, zero
values included so clients never have to guess a default."""

from google.protobuf import json_format
from google.protobuf.message import Message


def to_json(message: Message) -> dict:
    return json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )
