"""The router's rules and the circuit breaker, on engines that only count tokens (routing never
generates), plus the catalogues that ship."""

from pathlib import Path

import pytest

from paneas.services.llm.catalogue import ModelEntry, RouterSpec
from paneas.services.llm.circuit import CircuitBreaker, CircuitState
from paneas.services.llm.engines.base import ChatParams
from paneas.services.llm.errors import ContextLengthExceeded, UnknownModel
from paneas.services.llm.router import ModelRouter
from paneas.services.llm.settings import LlmSettings
from tests.support import REPO


class WordCounter:
    """Counts one token per word: routing only needs counts and windows."""

    kind = "test"
    remote = False

    def __init__(self, model: str, context_window: int) -> None:
        self.model = model
        self.context_window = context_window

    async def count_tokens(self, messages, tools) -> int:
        return sum(len(message["content"].split()) for message in messages)


def _router(**spec) -> ModelRouter:
    engines = {
        "small": WordCounter("small", 8_000),
        "big": WordCounter("big", 32_000),
        "remote": WordCounter("remote", 128_000),
    }
    models = [
        ModelEntry(name="fast-model", engine="small", tier="fast"),
        ModelEntry(name="balanced-model", engine="big", tier="balanced"),
        ModelEntry(name="external-model", engine="remote", tier="external"),
        ModelEntry(name="skipped", engine="not-configured"),
    ]
    defaults = {
        "fallbacks": {"fast-model": ["balanced-model", "external-model"]},
        "context_window_fallbacks": {"fast-model": ["balanced-model"]},
    }
    return ModelRouter(models, engines, RouterSpec(**{**defaults, **spec}))


def _words(count: int, max_tokens: int | None = None) -> ChatParams:
    return ChatParams(messages=[{"role": "user", "content": "w " * count}], max_tokens=max_tokens)


@pytest.mark.parametrize(
    ("words", "model", "reason"),
    [
        (1_999, "fast-model", "auto:fast"),
        (2_000, "balanced-model", "auto:balanced"),
        (7_999, "balanced-model", "auto:balanced"),
        (8_000, "external-model", "auto:external"),
        (30_000, "external-model", "auto:external"),
    ],
)
async def test_auto_picks_the_tier_by_prompt_tokens(words, model, reason):
    plan = await _router().plan("auto", _words(words))
    assert plan.candidates[0].name == model and plan.reason == reason
    assert plan.prompt_tokens == words


async def test_missing_tier_moves_up_and_explicit_names_are_honoured():
    router = _router()
    del router.models["balanced-model"]
    plan = await router.plan("auto", _words(3_000))
    assert plan.candidates[0].name == "external-model"
    plan = await router.plan("fast-model", _words(10))
    assert plan.reason == "explicit"
    assert [m.name for m in plan.candidates] == ["fast-model", "external-model"]
    assert "skipped" not in router.models


async def test_context_window_fallback_and_refusals():
    router = _router()
    # 7,990 words fit the fast model's 8,000 window, not with 100 tokens of completion.
    plan = await router.plan("fast-model", _words(7_990, max_tokens=100))
    assert plan.candidates[0].name == "balanced-model"
    assert plan.reason == "explicit,context_window_fallback:fast-model"
    with pytest.raises(ContextLengthExceeded, match="maximum context length is 32000"):
        await router.plan("balanced-model", _words(31_990, max_tokens=100))
    with pytest.raises(ContextLengthExceeded, match="limit of 32768"):
        await router.plan("auto", _words(40_000))
    with pytest.raises(UnknownModel, match="external-model, fast-model"):
        await router.plan("gpt-7", _words(1))


def test_circuit_opens_after_allowed_fails_and_half_opens_after_cooldown():
    now = [0.0]
    breaker = CircuitBreaker(allowed_fails=2, cooldown=10, clock=lambda: now[0])
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED and breaker.allow()
    now[0] = 11  # the first failure has aged out of the window
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN and not breaker.allow()
    now[0] = 21.5
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    now[0] = 32
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED and breaker.allow()


@pytest.mark.parametrize(
    "catalogue", ["services/llm/catalogue.yaml", "deploy/llm/reference-box.yaml"]
)
def test_shipped_catalogues_are_consistent(monkeypatch, catalogue):
    monkeypatch.setenv("LLM_CATALOGUE", str(REPO / catalogue))
    monkeypatch.setenv("LLM_ROUTER__COOLDOWN_SECONDS", "7")
    settings = LlmSettings()
    assert settings.router.cooldown_seconds == 7  # the environment overrides the file
    names = {model.name for model in settings.models}
    assert {"paneas-q32b", "paneas-v1-q14b", "gpt-4o-mini"} <= names
    assert {model.engine for model in settings.models} <= set(settings.engines)
    for source, targets in [
        *settings.router.fallbacks.items(),
        *settings.router.context_window_fallbacks.items(),
    ]:
        assert {source, *targets} <= names
    assert Path(settings.catalogue).name == Path(catalogue).name


class RemoteWordCounter(WordCounter):
    """A remote engine's place in routing: counts like the others, `remote` set."""

    remote = True


def _router_with_remote(allow_external: bool) -> ModelRouter:
    engines = {"small": WordCounter("small", 8_000), "remote": RemoteWordCounter("r", 128_000)}
    models = [
        ModelEntry(name="fast-model", engine="small", tier="fast"),
        ModelEntry(name="external-model", engine="remote", tier="external"),
    ]
    spec = RouterSpec(
        fallbacks={"fast-model": ["external-model"]},
        context_window_fallbacks={"fast-model": ["external-model"]},
    )
    return ModelRouter(models, engines, spec, allow_external=allow_external)


async def test_remote_engines_are_chosen_by_the_router_only_when_allowed():
    kept = _router_with_remote(allow_external=False)
    # auto stays on the local tier, however large the prompt ...
    plan = await kept.plan("auto", _words(5_000))
    assert [m.name for m in plan.candidates] == ["fast-model"] and plan.reason == "auto:fast"
    # ... no fallback or context-window fallback leaves the deployment ...
    plan = await kept.plan("fast-model", _words(10))
    assert [m.name for m in plan.candidates] == ["fast-model"]
    with pytest.raises(ContextLengthExceeded):
        await kept.plan("fast-model", _words(7_990, max_tokens=100))
    # ... but a caller who names the remote model gets it.
    plan = await kept.plan("external-model", _words(10))
    assert plan.candidates[0].name == "external-model" and plan.reason == "explicit"

    allowed = _router_with_remote(allow_external=True)
    plan = await allowed.plan("auto", _words(5_000))
    assert plan.candidates[0].name == "external-model" and plan.reason == "auto:external"
    plan = await allowed.plan("fast-model", _words(10))
    assert [m.name for m in plan.candidates] == ["fast-model", "external-model"]


def test_external_engines_are_off_by_default():
    assert LlmSettings.model_fields["allow_external"].default is False
