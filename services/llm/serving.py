"""Runs a routed request: tries the plan's models in order until one starts answering.

A model that fails or times out before its first token hands the request to the next in the
chain (its circuit breaker counts the failure); once tokens flow the answer is committed to
that model, and a later failure ends the answer with an error. Metrics and the log line of
each request are written here, where routing, timing and tokens meet.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import structlog

from paneas.services.llm import metrics
from paneas.services.llm.catalogue import RouterSpec
from paneas.services.llm.circuit import CircuitBreaker
from paneas.services.llm.engines.base import (
    ChatDelta,
    ChatParams,
    EngineBusy,
    EngineRejected,
    EngineUnavailable,
)
from paneas.services.llm.errors import (
    ContextLengthExceeded,
    EngineTimeout,
    GenerationFailed,
    InvalidRequest,
    LlmError,
    NoEngineAvailable,
    Overloaded,
)
from paneas.services.llm.router import ModelRouter, RoutePlan, ServedModel

log = structlog.get_logger("paneas.llm")


@dataclass
class Generation:
    """A request committed to a model: who serves it, why, and its deltas."""

    model: ServedModel
    reason: str
    prompt_tokens: int
    deltas: AsyncIterator[ChatDelta]
    # Set by the API layer that presents the answer.
    id: str = ""
    created: int = 0


@dataclass
class _Failure:
    model: ServedModel
    reason: str  # timeout | unavailable | busy | circuit_open
    detail: str
    retry_after: float = 0.0


class ChatServing:
    def __init__(self, router: ModelRouter, spec: RouterSpec) -> None:
        self.router = router
        self.spec = spec
        self.breakers: dict[str, CircuitBreaker] = {}
        for model in router.models.values():
            if model.engine_name not in self.breakers:
                breaker = CircuitBreaker(spec.allowed_fails, spec.cooldown_seconds)
                self.breakers[model.engine_name] = breaker
                metrics.CIRCUIT_STATE.labels(model.engine_name).set_function(
                    lambda breaker=breaker: int(breaker.state)
                )

    async def generate(self, requested: str, params: ChatParams) -> Generation:
        arrived = time.perf_counter()
        plan = await self.router.plan(requested, params)
        metrics.ROUTER_DECISIONS.labels(
            requested or "default", plan.candidates[0].name, plan.reason
        ).inc()
        failures: list[_Failure] = []
        for model in plan.candidates:
            if any(f.model.engine_name == model.engine_name for f in failures):
                continue  # another name for an engine that just failed this request
            counted = replace(params, prompt_tokens=plan.counts.get(model.engine_name))
            started = await self._start(model, counted, failures)
            if started is None:
                continue
            first, deltas = started
            for failure in failures:
                metrics.FALLBACKS.labels(failure.model.name, model.name, failure.reason).inc()
            reason = plan.reason if not failures else f"fallback:{failures[0].model.name}"
            if failures:
                log.warning(
                    "fallback",
                    requested=requested,
                    model=model.name,
                    failed=[f"{f.model.name}: {f.detail}" for f in failures],
                )
            tokens = plan.counts.get(model.engine_name, plan.prompt_tokens)
            follow = self._follow(model, plan, first, deltas, arrived, requested, reason)
            return Generation(model, reason, tokens, follow)
        for failure in failures:
            metrics.FALLBACKS.labels(failure.model.name, "none", failure.reason).inc()
        raise _exhausted(failures)

    async def _start(
        self, model: ServedModel, params: ChatParams, failures: list[_Failure]
    ) -> tuple[ChatDelta, AsyncIterator[ChatDelta]] | None:
        breaker = self.breakers[model.engine_name]
        if not breaker.allow():
            failures.append(
                _Failure(
                    model, "circuit_open", f"skipped for {breaker.cooldown:g} s after failures"
                )
            )
            return None
        kind = model.engine.kind
        deltas = model.engine.stream(params)
        metrics.REQUESTS_WAITING.labels(kind).inc()
        try:
            # A local engine queues requests itself (bounded by count, not time): waiting in
            # its queue under load is not a failure, and must not open its circuit.
            timeout = self.spec.first_token_timeout_seconds if model.engine.remote else None
            async with asyncio.timeout(timeout):
                return await anext(deltas), deltas
        except TimeoutError:
            breaker.record_failure()
            failures.append(
                _Failure(
                    model,
                    "timeout",
                    f"no first token within {self.spec.first_token_timeout_seconds:g} s",
                )
            )
        except EngineBusy as error:
            breaker.release_trial()
            failures.append(_Failure(model, "busy", str(error), error.retry_after))
        except (EngineUnavailable, StopAsyncIteration) as error:
            breaker.record_failure()
            failures.append(_Failure(model, "unavailable", str(error) or "no answer"))
        except EngineRejected as error:
            breaker.record_success()
            raise _rejected(error) from error
        except BaseException:
            breaker.release_trial()
            raise
        finally:
            metrics.REQUESTS_WAITING.labels(kind).dec()
        await deltas.aclose()
        return None

    async def _follow(
        self,
        model: ServedModel,
        plan: RoutePlan,
        first: ChatDelta,
        deltas: AsyncIterator[ChatDelta],
        arrived: float,
        requested: str,
        reason: str,
    ) -> AsyncIterator[ChatDelta]:
        breaker = self.breakers[model.engine_name]
        breaker.record_success()
        labels = (model.name, model.engine.kind)
        metrics.REQUESTS_RUNNING.labels(model.engine.kind).inc()
        finished = "abort"
        first_token_at = last_at = None
        tool_ids: dict[int, str] = {}
        delta = first
        try:
            while True:
                now = time.perf_counter()
                if delta.content or delta.tool_calls:
                    if first_token_at is None:
                        first_token_at = now
                        metrics.TIME_TO_FIRST_TOKEN.labels(*labels).observe(now - arrived)
                    else:
                        metrics.INTER_TOKEN_LATENCY.labels(*labels).observe(now - last_at)
                    last_at = now
                    _number_tool_calls(delta, tool_ids)
                if delta.finish_reason:
                    finished = delta.finish_reason
                    self._record(model, delta, arrived, first_token_at, now)
                    log.info(
                        "chat",
                        requested=requested or "default",
                        model=model.name,
                        route=reason,
                        finish_reason=finished,
                        prompt_tokens=delta.usage.prompt_tokens if delta.usage else None,
                        completion_tokens=delta.usage.completion_tokens if delta.usage else None,
                        ttft_ms=round((first_token_at or now) - arrived, 4) * 1000,
                        e2e_ms=round(now - arrived, 4) * 1000,
                    )
                yield delta
                if delta.finish_reason:
                    return
                try:
                    async with asyncio.timeout(self.spec.idle_timeout_seconds):
                        delta = await anext(deltas)
                except StopAsyncIteration:
                    return
                except TimeoutError as error:
                    finished = "error"
                    breaker.record_failure()
                    raise GenerationFailed(
                        f"{model.name} stopped producing tokens for "
                        f"{self.spec.idle_timeout_seconds:g} s; the answer is incomplete"
                    ) from error
                except EngineUnavailable as error:
                    finished = "error"
                    breaker.record_failure()
                    raise GenerationFailed(
                        f"{model.name} failed mid-answer: {error}; the answer is incomplete"
                    ) from error
                except EngineRejected as error:
                    finished = "error"
                    raise _rejected(error) from error
        finally:
            # Counted before the running gauge drops, so a scrape never sees neither.
            metrics.REQUESTS_FINISHED.labels(*labels, finished).inc()
            metrics.REQUESTS_RUNNING.labels(model.engine.kind).dec()
            await deltas.aclose()

    @staticmethod
    def _record(
        model: ServedModel,
        last: ChatDelta,
        arrived: float,
        first_token_at: float | None,
        now: float,
    ) -> None:
        labels = (model.name, model.engine.kind)
        metrics.E2E_LATENCY.labels(*labels).observe(now - arrived)
        if last.usage is None:
            return
        metrics.PROMPT_TOKENS.labels(*labels).inc(last.usage.prompt_tokens)
        metrics.GENERATION_TOKENS.labels(*labels).inc(last.usage.completion_tokens)
        if first_token_at is not None and now > first_token_at and last.usage.completion_tokens > 1:
            rate = (last.usage.completion_tokens - 1) / (now - first_token_at)
            metrics.TOKENS_PER_SECOND.labels(*labels).observe(rate)


def _number_tool_calls(delta: ChatDelta, tool_ids: dict[int, str]) -> None:
    """OpenAI's stream shape: id, type and name only in the first fragment of each call."""
    for call in delta.tool_calls:
        if call.index in tool_ids:
            call.id = ""
            call.name = ""
            continue
        call.id = call.id or f"call_{uuid.uuid4().hex[:24]}"
        tool_ids[call.index] = call.id


def _rejected(error: EngineRejected) -> LlmError:
    if error.code == "context_length_exceeded":
        return ContextLengthExceeded(str(error), param="messages")
    return InvalidRequest(str(error))


def _exhausted(failures: list[_Failure]) -> LlmError:
    detail = "; ".join(f"{f.model.name}: {f.detail}" for f in failures)
    if failures and all(f.reason == "busy" for f in failures):
        retry = min(f.retry_after for f in failures)
        return Overloaded(f"every model that could serve this is busy ({detail})", retry)
    if failures and all(f.reason == "timeout" for f in failures):
        return EngineTimeout(f"no model answered in time ({detail})")
    return NoEngineAvailable(f"no model could serve this request ({detail}); retry later")
