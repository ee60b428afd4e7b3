"""Engines behind one protocol (`base.ChatEngine`); `build_engine` makes one from its spec.

vLLM is imported only when a catalogue names it: it is installed only on GPU deployments
(and in the vLLM test venv).
"""

from paneas.services.llm.catalogue import (
    EngineSpec,
    LlamaCppEngineSpec,
    OpenAiEngineSpec,
    VllmEngineSpec,
)
from paneas.services.llm.engines.base import ChatEngine


def build_engine(spec: EngineSpec, retry_after: float = 1.0) -> ChatEngine:
    if isinstance(spec, LlamaCppEngineSpec):
        from paneas.services.llm.engines.llama_cpp import LlamaCppEngine

        return LlamaCppEngine(spec, retry_after)
    if isinstance(spec, OpenAiEngineSpec):
        from paneas.services.llm.engines.openai import OpenAiEngine

        return OpenAiEngine(spec)
    if isinstance(spec, VllmEngineSpec):
        from paneas.services.llm.engines.vllm import VllmEngine

        return VllmEngine(spec)
    raise TypeError(f"unknown engine spec {spec!r}")
