"""A remote OpenAI-compatible endpoint: OpenAI itself, or an external vLLM / llama.cpp server.

Speaks `/chat/completions` with `stream: true` over httpx and turns the server-sent events
into deltas. Connection failures, timeouts, 429 and 5xx make the engine unavailable (the
router may fall back); other 4xx are the request's fault and pass through as they are.
"""

import json
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx

from paneas.services.llm.catalogue import OpenAiEngineSpec
from paneas.services.llm.engines.base import (
    ChatDelta,
    ChatParams,
    EngineRejected,
    EngineUnavailable,
    TokenUsage,
    ToolCallDelta,
)
from paneas.services.llm.engines.tokenizers import RemoteTokenizer

_SAMPLING_FIELDS = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty")


class OpenAiEngine:
    kind = "openai"
    remote = True

    def __init__(self, spec: OpenAiEngineSpec) -> None:
        self.spec = spec
        self.model = spec.model
        self.context_window = spec.context_window
        self._api_key = os.environ.get(spec.api_key_env, "") if spec.api_key_env else ""
        self._client: httpx.AsyncClient | None = None
        self._tokenizer = RemoteTokenizer(spec.tokenizer)

    @property
    def configured(self) -> bool:
        """False when the endpoint needs a key and none is set: the engine is skipped."""
        return bool(self._api_key) or not self.spec.api_key_required

    async def start(self) -> None:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        # No read timeout here: the router bounds the wait for each token itself.
        timeout = httpx.Timeout(None, connect=self.spec.connect_timeout_seconds)
        self._client = httpx.AsyncClient(
            base_url=self.spec.base_url.rstrip("/") + "/", headers=headers, timeout=timeout
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def count_tokens(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> int:
        return self._tokenizer.count_chat(messages, tools)

    async def stream(self, params: ChatParams) -> AsyncIterator[ChatDelta]:
        assert self._client is not None, "start() first"
        body = self._body(params)
        try:
            async with self._client.stream("POST", "chat/completions", json=body) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _status_error(response)
                async for delta in self._deltas(response, params):
                    yield delta
        except httpx.TransportError as error:
            raise EngineUnavailable(
                f"{self.spec.base_url} unreachable: {type(error).__name__} {error}".strip()
            ) from error

    def _body(self, params: ChatParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.spec.model,
            "messages": params.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        for name in _SAMPLING_FIELDS:
            value = getattr(params, name)
            if value is not None:
                body[name] = value
        if params.max_tokens is not None:
            body["max_tokens"] = params.max_tokens
        if params.stop:
            body["stop"] = params.stop
        if params.tools:
            body["tools"] = params.tools
        if params.tool_choice is not None:
            body["tool_choice"] = params.tool_choice
        if params.response_format:
            body["response_format"] = params.response_format
        if params.user:
            body["user"] = params.user
        return body

    async def _deltas(
        self, response: httpx.Response, params: ChatParams
    ) -> AsyncIterator[ChatDelta]:
        finish_reason = None
        usage = None
        generated_text = []
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            event = json.loads(data)
            if "error" in event:
                raise EngineUnavailable(f"the remote model failed mid-answer: {event['error']}")
            if event.get("usage"):
                usage = TokenUsage(
                    event["usage"].get("prompt_tokens", 0),
                    event["usage"].get("completion_tokens", 0),
                )
            for choice in event.get("choices") or []:
                delta = _delta_of(choice)
                generated_text.append(delta.content)
                if delta.finish_reason:
                    finish_reason = delta.finish_reason
                    delta.finish_reason = None
                if delta.content or delta.tool_calls:
                    yield delta
        if usage is None:
            # Servers that ignore stream_options: count with our tokenizer (or estimate).
            prompt = self._tokenizer.count_chat(params.messages, params.tools)
            usage = TokenUsage(prompt, self._tokenizer.count_text("".join(generated_text)))
        yield ChatDelta(finish_reason=finish_reason or "stop", usage=usage)


def _delta_of(choice: dict[str, Any]) -> ChatDelta:
    delta = choice.get("delta") or {}
    calls = []
    for call in delta.get("tool_calls") or []:
        function = call.get("function") or {}
        calls.append(
            ToolCallDelta(
                index=call.get("index", 0),
                id=call.get("id") or "",
                name=function.get("name") or "",
                arguments=function.get("arguments") or "",
            )
        )
    return ChatDelta(
        content=delta.get("content") or "",
        tool_calls=calls,
        finish_reason=choice.get("finish_reason"),
    )


def _status_error(response: httpx.Response) -> Exception:
    try:
        error = response.json().get("error", {})
        if isinstance(error, str):
            error = {"message": error}
    except (ValueError, AttributeError):
        error = {"message": response.text[:500]}
    message = error.get("message") or response.reason_phrase
    status = response.status_code
    if status == 429 or status >= 500:
        return EngineUnavailable(f"the remote endpoint answered {status}: {message}")
    if status in (401, 403):
        # Our key is wrong: the caller cannot fix that, another engine may serve.
        return EngineUnavailable(f"the remote endpoint refused our API key ({status}): {message}")
    code = error.get("code") or "invalid_request"
    if "context" in str(message).lower() and "length" in str(message).lower():
        code = "context_length_exceeded"
    return EngineRejected(f"the remote model refused the request: {message}", status, code)
