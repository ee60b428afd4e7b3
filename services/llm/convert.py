"""Protobuf messages <-> the engines' OpenAI-shaped parameters and deltas."""

from typing import Any

from google.protobuf import json_format

from paneas.llm.v1 import llm_pb2
from paneas.services.llm.engines.base import ChatDelta, ChatParams, TokenUsage
from paneas.services.llm.errors import InvalidRequest

# Engines' chat templates know "system"; OpenAI's newer "developer" means the same.
_ROLES = {
    llm_pb2.ROLE_SYSTEM: "system",
    llm_pb2.ROLE_DEVELOPER: "system",
    llm_pb2.ROLE_USER: "user",
    llm_pb2.ROLE_ASSISTANT: "assistant",
    llm_pb2.ROLE_TOOL: "tool",
}
FINISH_REASONS = {
    "stop": llm_pb2.FINISH_REASON_STOP,
    "length": llm_pb2.FINISH_REASON_LENGTH,
    "tool_calls": llm_pb2.FINISH_REASON_TOOL_CALLS,
    "content_filter": llm_pb2.FINISH_REASON_CONTENT_FILTER,
}
_MAX_STOP_SEQUENCES = 4


def messages_of(messages: Any) -> list[dict[str, Any]]:
    if not messages:
        raise InvalidRequest("messages is empty; send at least one message", param="messages")
    converted = []
    for position, message in enumerate(messages):
        role = _ROLES.get(message.role)
        if role is None:
            raise InvalidRequest(
                f"messages[{position}].role is not set; use system, developer, user, "
                "assistant or tool",
                param=f"messages[{position}].role",
            )
        entry: dict[str, Any] = {"role": role, "content": message.content}
        if message.name:
            entry["name"] = message.name
        if message.tool_calls:
            entry["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
                for call in message.tool_calls
            ]
        if role == "tool":
            if not message.tool_call_id:
                raise InvalidRequest(
                    f"messages[{position}] is a tool result without tool_call_id; set it to "
                    "the id of the call it answers",
                    param=f"messages[{position}].tool_call_id",
                )
            entry["tool_call_id"] = message.tool_call_id
        converted.append(entry)
    return converted


def params_of(request: llm_pb2.ChatRequest | llm_pb2.StreamChatRequest) -> ChatParams:
    sampling = request.sampling
    _check_sampling(sampling)
    params = ChatParams(
        messages=messages_of(request.messages),
        tools=[_tool_of(tool) for tool in request.tools],
        tool_choice=_tool_choice_of(request),
        response_format=_response_format_of(request.response_format),
        temperature=sampling.temperature if sampling.HasField("temperature") else None,
        top_p=sampling.top_p if sampling.HasField("top_p") else None,
        max_tokens=sampling.max_tokens if sampling.HasField("max_tokens") else None,
        stop=list(sampling.stop),
        seed=sampling.seed if sampling.HasField("seed") else None,
        presence_penalty=(
            sampling.presence_penalty if sampling.HasField("presence_penalty") else None
        ),
        frequency_penalty=(
            sampling.frequency_penalty if sampling.HasField("frequency_penalty") else None
        ),
        user=request.user,
    )
    return params


def _check_sampling(sampling: llm_pb2.SamplingParams) -> None:
    if sampling.HasField("n") and sampling.n != 1:
        raise InvalidRequest(f"n={sampling.n} is not supported; only n=1 is", param="n")
    if sampling.HasField("temperature") and not 0 <= sampling.temperature <= 2:
        raise InvalidRequest("temperature must be between 0 and 2", param="temperature")
    if sampling.HasField("top_p") and not 0 <= sampling.top_p <= 1:
        raise InvalidRequest("top_p must be between 0 and 1", param="top_p")
    if sampling.HasField("max_tokens") and sampling.max_tokens < 1:
        raise InvalidRequest("max_tokens must be at least 1", param="max_tokens")
    for name in ("presence_penalty", "frequency_penalty"):
        if sampling.HasField(name) and not -2 <= getattr(sampling, name) <= 2:
            raise InvalidRequest(f"{name} must be between -2 and 2", param=name)
    if len(sampling.stop) > _MAX_STOP_SEQUENCES:
        raise InvalidRequest("stop takes at most 4 sequences", param="stop")


def _tool_of(tool: llm_pb2.Tool) -> dict[str, Any]:
    if tool.type not in ("", "function"):
        raise InvalidRequest(f"tool type {tool.type!r} is not supported; use function", "tools")
    if not tool.function.name:
        raise InvalidRequest("every tool needs function.name", param="tools")
    function: dict[str, Any] = {"name": tool.function.name}
    if tool.function.description:
        function["description"] = tool.function.description
    function["parameters"] = (
        json_format.MessageToDict(tool.function.parameters)
        if tool.function.HasField("parameters")
        else {"type": "object", "properties": {}}
    )
    if tool.function.strict:
        function["strict"] = True
    return {"type": "function", "function": function}


def _tool_choice_of(request: Any) -> str | dict[str, Any] | None:
    which = request.tool_choice.WhichOneof("choice") if request.HasField("tool_choice") else None
    if which is None:
        return None
    if which == "function_name":
        return {"type": "function", "function": {"name": request.tool_choice.function_name}}
    mode = request.tool_choice.mode
    if mode not in ("none", "auto", "required"):
        raise InvalidRequest(
            f"tool_choice {mode!r} is not one of none, auto, required", param="tool_choice"
        )
    if mode != "none" and not request.tools:
        raise InvalidRequest(f"tool_choice {mode!r} needs tools", param="tool_choice")
    return mode


def _response_format_of(response_format: llm_pb2.ResponseFormat) -> dict[str, Any] | None:
    kind = response_format.type
    if kind == llm_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT:
        return {"type": "json_object"}
    if kind == llm_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA:
        if not response_format.HasField("json_schema"):
            raise InvalidRequest("json_schema response_format needs json_schema", "response_format")
        return {
            "type": "json_schema",
            "json_schema": json_format.MessageToDict(response_format.json_schema),
        }
    return None


def usage_message(usage: TokenUsage | None) -> llm_pb2.Usage | None:
    if usage is None:
        return None
    return llm_pb2.Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )


def delta_message(delta: ChatDelta) -> llm_pb2.Delta:
    message = llm_pb2.Delta(content=delta.content)
    for call in delta.tool_calls:
        message.tool_calls.append(
            llm_pb2.ToolCall(
                index=call.index,
                id=call.id,
                type="function" if call.id else "",
                function=llm_pb2.FunctionCall(name=call.name, arguments=call.arguments),
            )
        )
    return message
