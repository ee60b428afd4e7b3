"""The one small protocol every chat engine speaks, in OpenAI's vocabulary.

Engines take a `ChatParams` (messages, tools and response_format as OpenAI JSON dicts) and
yield `ChatDelta`s; the last delta carries `finish_reason` and `usage`. Closing the iterator
(the caller stops reading or is cancelled) must stop generation in the engine.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class ChatParams:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    # "none" | "auto" | "required" | {"type": "function", "function": {"name": ...}} | None
    tool_choice: str | dict[str, Any] | None = None
    # {"type": "json_object"} | {"type": "json_schema", "json_schema": {...}} | None
    response_format: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    user: str = ""
    # The prompt's tokens with the serving engine's tokenizer, when the router already counted
    # them (it does, to route): the engine does not count again. None: the engine counts.
    prompt_tokens: int | None = None


@dataclass
class ToolCallDelta:
    """A fragment of one tool call; fragments with the same index belong together."""

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class TokenUsage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ChatDelta:
    content: str = ""
    tool_calls: list[ToolCallDelta] = field(default_factory=list)
    # "stop" | "length" | "tool_calls" | "content_filter", on the last delta only.
    finish_reason: str | None = None
    usage: TokenUsage | None = None


class EngineError(Exception):
    """Base of engine failures."""


class EngineUnavailable(EngineError):
    """The engine could not serve (down, timed out, 5xx, crashed): the router may fall back."""


class EngineBusy(EngineUnavailable):
    """The engine is at its queue limit; not a failure of the engine (the circuit stays shut)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EngineRejected(EngineError):
    """The engine refused this request itself (a 4xx): falling back would not help."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ChatEngine(Protocol):
    """What the router needs from an engine. `kind` is "vllm", "llama_cpp" or "openai"."""

    kind: str
    # Reached over the network (the router bounds the wait for its first token) rather than
    # run in this process (which queues requests itself).
    remote: bool
    # The concrete model the engine serves (a path, a Hugging Face id, a remote model name).
    model: str
    context_window: int

    async def start(self) -> None:
        """Loads the model or checks the endpoint; called once before serving."""

    async def close(self) -> None:
        """Frees the model or the connection pool."""

    async def count_tokens(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> int:
        """Prompt tokens for this conversation with the model's own tokenizer and template."""

    def stream(self, params: ChatParams) -> AsyncIterator[ChatDelta]:
        """Generates; closing the iterator stops generation."""
