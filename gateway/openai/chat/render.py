"""LlmService answers as OpenAI's JSON: `chat.completion`, `chat.completion.chunk`, models.

Plain dicts rather than the protocol's models: OpenAI's shape has keys that must be present
as null (`logprobs`, `usage` on chunks with include_usage) and keys that must be absent (a
delta's unset fields), which a model dump cannot tell apart.
"""

from paneas.llm.v1 import llm_pb2

FINISH_REASONS = {
    llm_pb2.FINISH_REASON_STOP: "stop",
    llm_pb2.FINISH_REASON_LENGTH: "length",
    llm_pb2.FINISH_REASON_TOOL_CALLS: "tool_calls",
    llm_pb2.FINISH_REASON_CONTENT_FILTER: "content_filter",
}
ROLE_NAMES = {
    llm_pb2.ROLE_SYSTEM: "system",
    llm_pb2.ROLE_DEVELOPER: "developer",
    llm_pb2.ROLE_USER: "user",
    llm_pb2.ROLE_ASSISTANT: "assistant",
    llm_pb2.ROLE_TOOL: "tool",
}


def usage(counts: llm_pb2.Usage) -> dict:
    return {
        "prompt_tokens": counts.prompt_tokens,
        "completion_tokens": counts.completion_tokens,
        "total_tokens": counts.total_tokens,
    }


def completion(response: llm_pb2.ChatResponse) -> dict:
    return {
        "id": response.id,
        "object": "chat.completion",
        "created": response.created,
        "model": response.model,
        "choices": [
            {
                "index": choice.index,
                "message": _message(choice.message),
                "logprobs": None,
                # A finished completion always has a reason; "stop" if the engine gave none.
                "finish_reason": FINISH_REASONS.get(choice.finish_reason, "stop"),
            }
            for choice in response.choices
        ],
        "usage": usage(response.usage),
        "system_fingerprint": None,
    }


def _message(message: llm_pb2.Message) -> dict:
    rendered: dict = {
        "role": "assistant",
        # OpenAI sends null, not "", when the assistant only called tools.
        "content": message.content or (None if message.tool_calls else ""),
        "refusal": None,
    }
    if message.tool_calls:
        rendered["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }
            for call in message.tool_calls
        ]
    return rendered


def chunk(message: llm_pb2.StreamChatResponse, include_usage: bool) -> dict:
    rendered = {
        "id": message.id,
        "object": "chat.completion.chunk",
        "created": message.created,
        "model": message.model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": choice.index,
                "delta": _delta(choice.delta),
                "logprobs": None,
                "finish_reason": FINISH_REASONS.get(choice.finish_reason),
            }
            for choice in message.choices
        ],
    }
    # OpenAI: with include_usage every chunk has the key, null until the usage chunk.
    if include_usage:
        rendered["usage"] = usage(message.usage) if message.HasField("usage") else None
    return rendered


def _delta(delta: llm_pb2.Delta) -> dict:
    rendered: dict = {}
    if delta.role:
        rendered["role"] = ROLE_NAMES[delta.role]
    # The role chunk carries content "" as OpenAI's does, unless tool calls start there.
    if delta.content or (delta.role and not delta.tool_calls):
        rendered["content"] = delta.content
    if delta.tool_calls:
        rendered["tool_calls"] = [_tool_call_fragment(call) for call in delta.tool_calls]
    return rendered


def _tool_call_fragment(call: llm_pb2.ToolCall) -> dict:
    """The first fragment of a call has its id, type and name; later ones only arguments."""
    fragment: dict = {"index": call.index}
    if call.id:
        fragment["id"] = call.id
        fragment["type"] = "function"
    function = {"arguments": call.function.arguments}
    if call.function.name:
        function = {"name": call.function.name, **function}
    fragment["function"] = function
    return fragment


def model(entry: llm_pb2.Model) -> dict:
    return {
        "id": entry.id,
        "object": "model",
        # The catalogue has no creation dates; 0 says "unknown" rather than inventing one.
        "created": 0,
        "owned_by": entry.owned_by or "paneas",
        "resolves_to": entry.resolves_to,
        "engine": entry.engine,
        "context_window": entry.context_window,
        "tier": entry.tier,
    }
