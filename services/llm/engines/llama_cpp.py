"""llama.cpp (llama-cpp-python): the embedded CPU engine, one generation at a time.

llama-cpp-python is synchronous and one `Llama` is not thread-safe, so generations run one
after another in the engine's one slot (a bounded wait line in front); tokens cross to the
event loop through a queue, and the worker stops at the next token once the caller is gone.
"""

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from paneas.services.llm.assets import resolve_gguf
from paneas.services.llm.catalogue import LlamaCppEngineSpec
from paneas.services.llm.engines.base import (
    ChatDelta,
    ChatParams,
    EngineBusy,
    EngineRejected,
    EngineUnavailable,
    TokenUsage,
    ToolCallDelta,
)
from paneas.services.runtime.admission import Admission

_END = object()
# llama-cpp-python's own defaults differ from OpenAI's; an unset field means OpenAI's default.
_OPENAI_TEMPERATURE = 1.0
_OPENAI_TOP_P = 1.0


class LlamaCppEngine:
    kind = "llama_cpp"
    remote = False

    def __init__(self, spec: LlamaCppEngineSpec, retry_after: float = 1.0) -> None:
        self.spec = spec
        self.model = spec.model
        self.context_window = spec.context_window
        self._llama: Any = None
        self._formatter: Any = None
        self._chatml = False
        self._generations = Admission(
            1,
            spec.max_waiting,
            retry_after,
            work="the CPU model",
            threads="llama-cpp",
            overloaded=EngineBusy,
        )

    async def start(self) -> None:
        await asyncio.to_thread(self._load)

    def _load(self) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        path = resolve_gguf(self.spec.model)
        threads = self.spec.threads or os.cpu_count() or 1
        self._llama = Llama(
            model_path=str(path),
            n_ctx=self.spec.context_window,  # 0: the model's training context
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        self.context_window = self._llama.n_ctx()
        template = self._llama.metadata.get("tokenizer.chat_template", "")
        if not template:
            raise RuntimeError(f"{path} has no chat template; llama.cpp cannot format chats")
        vocab = self._llama
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=vocab.detokenize([vocab.token_eos()]).decode(errors="ignore"),
            bos_token=vocab.detokenize([vocab.token_bos()]).decode(errors="ignore"),
        )
        # Tool calls use llama-cpp-python's grammar-constrained ChatML function calling,
        # which only fits models whose template is ChatML (SmolLM2, Qwen, ...).
        self._chatml = "<|im_start|>" in template

    async def close(self) -> None:
        if self._llama is not None:
            # Waits for the generations already in line; closing itself is never refused.
            with self._generations.admit(always=True):
                async with self._generations.slot():
                    self._llama.close()
                    self._llama = None
        self._generations.close()

    async def count_tokens(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> int:
        return await asyncio.to_thread(self._count_tokens, messages, tools)

    def _count_tokens(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
        # Runs beside a generation, outside its slot: tokenizing reads the model's vocabulary
        # only (llama_tokenize takes the const vocab, no context or sampler state), so it
        # does not race the decode that owns the context.
        import json

        prompt = self._formatter(messages=messages).prompt
        count = len(self._llama.tokenize(prompt.encode(), add_bos=False, special=True))
        if tools:
            # The function-calling prompt lists each tool's JSON schema.
            count += len(self._llama.tokenize(json.dumps(tools).encode(), add_bos=False))
        return count

    async def stream(self, params: ChatParams) -> AsyncIterator[ChatDelta]:
        with self._generations.admit():
            if self._llama is None:
                raise EngineUnavailable("the llama.cpp model is not loaded")
            if params.tools and params.tool_choice != "none" and not self._chatml:
                raise EngineRejected(
                    "this model's chat template does not support tool calls; use a ChatML model"
                )
            async with self._generations.slot():
                async for delta in self._generate(params):
                    yield delta

    async def _generate(self, params: ChatParams) -> AsyncIterator[ChatDelta]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()
        generated = [0]
        prompt_tokens = params.prompt_tokens
        if prompt_tokens is None:
            prompt_tokens = await asyncio.to_thread(
                self._count_tokens, params.messages, params.tools
            )

        def count_token(_ids: Any, logits: Any) -> Any:
            # Called once per sampled token: the exact completion token count, which the
            # streamed chunks do not give.
            generated[0] += 1
            return logits

        def work() -> None:
            try:
                chunks = self._chunks(params, count_token)
                try:
                    for chunk in chunks:
                        if cancelled.is_set():
                            break
                        loop.call_soon_threadsafe(queue.put_nowait, chunk)
                finally:
                    close = getattr(chunks, "close", None)
                    if close is not None:
                        close()
            except BaseException as error:  # noqa: BLE001 - handed to the event loop
                loop.call_soon_threadsafe(queue.put_nowait, error)
            loop.call_soon_threadsafe(queue.put_nowait, _END)

        worker = asyncio.ensure_future(self._generations.run(work))
        finish_reason = None
        try:
            while (chunk := await queue.get()) is not _END:
                if isinstance(chunk, BaseException):
                    raise _engine_error(chunk) from chunk
                delta = _delta_of(chunk)
                if delta.finish_reason:
                    finish_reason = delta.finish_reason
                    continue
                if delta.content or delta.tool_calls:
                    yield delta
            yield ChatDelta(
                finish_reason=finish_reason or "stop",
                usage=TokenUsage(prompt_tokens, generated[0]),
            )
        finally:
            cancelled.set()
            # The slot stays held until the worker has really stopped using the model.
            await asyncio.shield(worker)

    def _chunks(self, params: ChatParams, count_token: Any) -> Iterator[dict[str, Any]]:
        from llama_cpp.llama_chat_format import chatml_function_calling

        options: dict[str, Any] = {
            "temperature": _OPENAI_TEMPERATURE
            if params.temperature is None
            else params.temperature,
            "top_p": _OPENAI_TOP_P if params.top_p is None else params.top_p,
            "stop": params.stop or [],
            "max_tokens": params.max_tokens,
            "presence_penalty": params.presence_penalty or 0.0,
            "frequency_penalty": params.frequency_penalty or 0.0,
            "logits_processor": [count_token],
            "stream": True,
        }
        if params.seed is not None:
            self._llama.set_seed(params.seed)
        if params.tools and params.tool_choice != "none":
            tool_choice = _tool_choice(params)
            if tool_choice == "auto":
                # llama-cpp-python decides between text and a call in one piece and cannot
                # stream that decision: the answer comes as one delta.
                options["stream"] = False
                completion = chatml_function_calling(
                    llama=self._llama,
                    messages=params.messages,
                    tools=params.tools,
                    tool_choice=tool_choice,
                    **options,
                )
                return iter(_chunks_of_completion(completion))
            return chatml_function_calling(
                llama=self._llama,
                messages=params.messages,
                tools=params.tools,
                tool_choice=tool_choice,
                **options,
            )
        response_format = params.response_format
        if response_format and response_format.get("type") == "json_schema":
            schema = response_format.get("json_schema", {}).get("schema", {})
            response_format = {"type": "json_object", "schema": schema}
        return self._llama.create_chat_completion(
            messages=params.messages, response_format=response_format, **options
        )


def _tool_choice(params: ChatParams) -> str | dict[str, Any]:
    choice = params.tool_choice
    if choice is None:
        return "auto"
    if choice == "required":
        # The function-calling grammar can force a named function but not "any function":
        # with one tool that is the same thing.
        if len(params.tools) == 1:
            return {"type": "function", "function": {"name": params.tools[0]["function"]["name"]}}
        return "auto"
    if isinstance(choice, dict):
        name = choice.get("function", {}).get("name")
        if name not in {tool["function"]["name"] for tool in params.tools}:
            raise EngineRejected(f"tool_choice names {name!r}, which is not among the tools")
    return choice


def _chunks_of_completion(completion: dict[str, Any]) -> list[dict[str, Any]]:
    choice = completion["choices"][0]
    message = choice["message"]
    delta: dict[str, Any] = {"content": message.get("content") or ""}
    if message.get("tool_calls"):
        delta["tool_calls"] = [
            {**call, "index": index} for index, call in enumerate(message["tool_calls"])
        ]
    return [
        {"choices": [{"delta": delta, "finish_reason": None}]},
        {"choices": [{"delta": {}, "finish_reason": choice.get("finish_reason") or "stop"}]},
    ]


def _delta_of(chunk: dict[str, Any]) -> ChatDelta:
    choice = chunk["choices"][0]
    delta = choice.get("delta") or {}
    calls = [
        ToolCallDelta(
            index=call.get("index", 0),
            id=call.get("id") or "",
            name=(call.get("function") or {}).get("name") or "",
            arguments=(call.get("function") or {}).get("arguments") or "",
        )
        for call in delta.get("tool_calls") or []
    ]
    return ChatDelta(
        content=delta.get("content") or "",
        tool_calls=calls,
        finish_reason=choice.get("finish_reason"),
    )


def _engine_error(error: BaseException) -> Exception:
    message = str(error)
    if "exceed context window" in message:
        return EngineRejected(message, code="context_length_exceeded")
    if isinstance(error, ValueError):
        return EngineRejected(message)
    return EngineUnavailable(f"llama.cpp failed: {message}")
