"""An OpenAI chat completion request as a ChatRequest or StreamChatRequest protobuf."""

from typing import Any

from google.protobuf import struct_pb2

from paneas.gateway.openai.chat.protocol import (
    AssistantMessage,
    ChatCompletionRequest,
    Content,
    JsonObjectFormat,
    JsonSchemaFormat,
    Message,
    NamedToolChoice,
    Tool,
    ToolMessage,
)
from paneas.gateway.openai.errors import OpenAIError
from paneas.llm.v1 import llm_pb2

ROLES = {
    "system": llm_pb2.ROLE_SYSTEM,
    "developer": llm_pb2.ROLE_DEVELOPER,
    "user": llm_pb2.ROLE_USER,
    "assistant": llm_pb2.ROLE_ASSISTANT,
    "tool": llm_pb2.ROLE_TOOL,
}


def check_supported(body: ChatCompletionRequest) -> None:
    """What OpenAI's API accepts but this stack refuses, or refuses the way OpenAI does."""
    if body.n is not None and body.n != 1:
        raise OpenAIError(400, f"n={body.n} is not supported; only n=1 is", param="n")
    if body.stream_options is not None and not body.stream:
        raise OpenAIError(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )


def chat_request(body: ChatCompletionRequest) -> llm_pb2.ChatRequest:
    return _guarded(lambda: llm_pb2.ChatRequest(**_fields(body)))


def stream_chat_request(body: ChatCompletionRequest) -> llm_pb2.StreamChatRequest:
    # Usage is always asked for, so analytics count the tokens of every stream; the client
    # only sees the usage chunk when it asked for it.
    return _guarded(lambda: llm_pb2.StreamChatRequest(**_fields(body), include_usage=True))


def _guarded(build):
    # Protobuf refuses what JSON allows (lone surrogates in strings, numbers beyond a
    # Struct's range): the caller's mistake, so a 400 rather than a crash.
    try:
        return build()
    except (ValueError, TypeError, OverflowError) as error:
        raise OpenAIError(400, f"the request holds a value that cannot be sent: {error}") from None


def _fields(body: ChatCompletionRequest) -> dict[str, Any]:
    return {
        "model": body.model,
        "messages": [_message(message) for message in body.messages],
        "sampling": _sampling(body),
        "tools": [_tool(tool) for tool in body.tools or ()],
        "tool_choice": _tool_choice(body.tool_choice),
        "response_format": _response_format(body.response_format),
        "user": body.user or "",
    }


def _text(content: Content | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "\n".join(part.text for part in content)


def _message(message: Message) -> llm_pb2.Message:
    converted = llm_pb2.Message(
        role=ROLES[message.role],
        content=_text(message.content),
        name=getattr(message, "name", None) or "",
    )
    if isinstance(message, AssistantMessage):
        converted.tool_calls.extend(
            llm_pb2.ToolCall(
                index=index,
                id=call.id,
                type=call.type,
                function=llm_pb2.FunctionCall(
                    name=call.function.name, arguments=call.function.arguments
                ),
            )
            for index, call in enumerate(message.tool_calls or ())
        )
    elif isinstance(message, ToolMessage):
        converted.tool_call_id = message.tool_call_id
    return converted


def _sampling(body: ChatCompletionRequest) -> llm_pb2.SamplingParams:
    stop = [body.stop] if isinstance(body.stop, str) else body.stop or []
    max_tokens = (
        body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    )
    # Unset (None) fields stay unset: the engine then applies OpenAI's defaults.
    return llm_pb2.SamplingParams(
        temperature=body.temperature,
        top_p=body.top_p,
        max_tokens=max_tokens,
        stop=stop,
        seed=body.seed,
        presence_penalty=body.presence_penalty,
        frequency_penalty=body.frequency_penalty,
        n=body.n,
    )


def _struct(value: dict[str, Any] | None) -> struct_pb2.Struct | None:
    if value is None:
        return None
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def _tool(tool: Tool) -> llm_pb2.Tool:
    function = tool.function
    return llm_pb2.Tool(
        type=tool.type,
        function=llm_pb2.FunctionDefinition(
            name=function.name,
            description=function.description or "",
            parameters=_struct(function.parameters),
            strict=bool(function.strict),
        ),
    )


def _tool_choice(choice: str | NamedToolChoice | None) -> llm_pb2.ToolChoice | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        return llm_pb2.ToolChoice(mode=choice)
    return llm_pb2.ToolChoice(function_name=choice.function.name)


def _response_format(response_format) -> llm_pb2.ResponseFormat | None:
    if response_format is None:
        return None
    if isinstance(response_format, JsonObjectFormat):
        return llm_pb2.ResponseFormat(type=llm_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT)
    if isinstance(response_format, JsonSchemaFormat):
        # OpenAI's whole json_schema object ({"name", "schema", "strict"}), as the service
        # hands it on to engines that speak OpenAI's API.
        return llm_pb2.ResponseFormat(
            type=llm_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA,
            json_schema=_struct(
                response_format.json_schema.model_dump(by_alias=True, exclude_none=True)
            ),
        )
    return llm_pb2.ResponseFormat(type=llm_pb2.RESPONSE_FORMAT_TYPE_TEXT)
