"""Which model serves a request: names, tiers, prompt size, context windows, fallback chains.

Model "auto" (and the default when it is "auto") picks a tier by the prompt's token count,
counted with each candidate's own tokenizer: under `fast_below_tokens` the fast tier, under
`balanced_below_tokens` the balanced one, else the external one. A tier with no model served
is passed over for the next larger one. Prompts over `max_context_tokens`, or over every
window the request could move to, are refused before any engine runs.

Data residency: a model on a remote engine (`engine.remote`: OpenAI, any endpoint reached
over HTTP) is only ever chosen by the router, as a tier of `auto`, a fallback or a context
window fallback, when `LLM_ALLOW_EXTERNAL` is true. Naming it explicitly always works (when
it is configured): the caller chose to send the prompt there.
"""

from dataclasses import dataclass, field

from paneas.services.llm.catalogue import ModelEntry, RouterSpec
from paneas.services.llm.engines.base import ChatEngine, ChatParams
from paneas.services.llm.errors import ContextLengthExceeded, UnknownModel

AUTO = "auto"
_TIER_ORDER = ("fast", "balanced", "external")


@dataclass(frozen=True)
class ServedModel:
    name: str
    engine_name: str
    engine: ChatEngine
    tier: str
    owned_by: str

    @property
    def external(self) -> bool:
        return bool(getattr(self.engine, "remote", False))


@dataclass
class RoutePlan:
    """The models to try in order, and why the first was chosen."""

    candidates: list[ServedModel]
    reason: str
    prompt_tokens: int
    # Prompt tokens per engine (tokenizers differ), for usage and metrics.
    counts: dict[str, int] = field(default_factory=dict)


class ModelRouter:
    def __init__(
        self,
        models: list[ModelEntry],
        engines: dict[str, ChatEngine],
        spec: RouterSpec,
        allow_external: bool = False,
    ) -> None:
        self.spec = spec
        # Whether the router itself may send a prompt to a remote engine (LLM_ALLOW_EXTERNAL).
        self.allow_external = allow_external
        self.models: dict[str, ServedModel] = {}
        for entry in models:
            if entry.engine in engines:  # models of skipped engines are not served
                self.models[entry.name] = ServedModel(
                    entry.name, entry.engine, engines[entry.engine], entry.tier, entry.owned_by
                )

    def tier_model(self, tier: str) -> ServedModel | None:
        """The model `auto` uses for `tier` (None when none, or only an external one that
        the router may not choose)."""
        return next(
            (m for m in self.models.values() if m.tier == tier and self._may_choose(m)), None
        )

    def _may_choose(self, model: ServedModel | None) -> bool:
        return model is not None and (self.allow_external or not model.external)

    async def plan(self, requested: str, params: ChatParams) -> RoutePlan:
        name = requested or self.spec.default_model
        counts: dict[str, int] = {}
        if name == AUTO:
            primary, reason = await self._by_size(params, counts)
        elif name in self.models:
            primary, reason = self.models[name], "explicit" if requested else "default"
        else:
            raise self._unknown(name)
        tokens = await self._count(primary, params, counts)
        if tokens > self.spec.max_context_tokens:
            raise ContextLengthExceeded(
                f"This request's messages take {tokens} tokens, over the limit of "
                f"{self.spec.max_context_tokens} for any model here. Shorten the messages.",
                param="messages",
            )
        if not _fits(primary, tokens, params):
            primary, reason = await self._fitting(primary, reason, params, counts)
            tokens = counts[primary.engine_name]
        candidates = [primary]
        for fallback_name in self.spec.fallbacks.get(primary.name, []):
            fallback = self.models.get(fallback_name)
            if not self._may_choose(fallback) or fallback in candidates:
                continue
            if _fits(fallback, await self._count(fallback, params, counts), params):
                candidates.append(fallback)
        return RoutePlan(candidates, reason, tokens, counts)

    async def count(self, requested: str, params: ChatParams) -> tuple[ServedModel, int]:
        """The model a request would go to first, and its prompt tokens there."""
        name = requested or self.spec.default_model
        counts: dict[str, int] = {}
        if name == AUTO:
            model, _ = await self._by_size(params, counts)
        elif name in self.models:
            model = self.models[name]
        else:
            raise self._unknown(name)
        return model, await self._count(model, params, counts)

    def _unknown(self, name: str) -> UnknownModel:
        served = ", ".join(sorted([*self.models, AUTO]))
        return UnknownModel(
            f"The model `{name}` does not exist or is not served here. Served models: "
            f"{served} (GET /v1/models lists them).",
            param="model",
        )

    async def _by_size(self, params: ChatParams, counts: dict[str, int]) -> tuple[ServedModel, str]:
        available = [(tier, self.tier_model(tier)) for tier in _TIER_ORDER]
        available = [(tier, model) for tier, model in available if model is not None]
        if not available:
            if any(m.tier and m.external for m in self.models.values()):
                raise UnknownModel(
                    "only remote models have a tier here and LLM_ALLOW_EXTERNAL is false, so "
                    "`auto` cannot route: name a model, or set LLM_ALLOW_EXTERNAL=true to let "
                    "prompts leave this deployment",
                    "model",
                )
            raise UnknownModel("no tiered model is served, so `auto` cannot route", "model")
        limits = {"fast": self.spec.fast_below_tokens, "balanced": self.spec.balanced_below_tokens}
        for tier, model in available:
            limit = limits.get(tier)
            if limit is None or await self._count(model, params, counts) < limit:
                return model, f"auto:{tier}"
        # The prompt is bigger than the largest served tier is meant for: still try it; the
        # context check decides.
        tier, model = available[-1]
        return model, f"auto:{tier}"

    async def _fitting(
        self, primary: ServedModel, reason: str, params: ChatParams, counts: dict[str, int]
    ) -> tuple[ServedModel, str]:
        for name in self.spec.context_window_fallbacks.get(primary.name, []):
            model = self.models.get(name)
            if self._may_choose(model) and _fits(
                model, await self._count(model, params, counts), params
            ):
                return model, f"{reason},context_window_fallback:{primary.name}"
        tokens = counts[primary.engine_name]
        wanted = tokens + (params.max_tokens or 0)
        raise ContextLengthExceeded(
            f"This model's maximum context length is {primary.engine.context_window} tokens. "
            f"However, you requested {wanted} tokens ({tokens} in the messages, "
            f"{params.max_tokens or 0} in the completion). Please reduce the length of the "
            "messages or completion.",
            param="messages",
        )

    async def _count(self, model: ServedModel, params: ChatParams, counts: dict[str, int]) -> int:
        if model.engine_name not in counts:
            counts[model.engine_name] = await model.engine.count_tokens(
                params.messages, params.tools
            )
        return counts[model.engine_name]


def _fits(model: ServedModel, tokens: int, params: ChatParams) -> bool:
    # Like OpenAI: the prompt plus the requested completion must fit; at least one token.
    return tokens + max(params.max_tokens or 0, 1) <= model.engine.context_window
