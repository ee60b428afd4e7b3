"""ChatServing walks the router's plan on stand-in engines, in process: fallback only before
the first token, circuit breakers per engine, overload and refusals passed on as the caller's
errors. tests/llm/test_fallbacks.py checks the same against real remote servers."""

import asyncio

import grpc
import pytest

from paneas.services.llm.catalogue import ModelEntry, RouterSpec
from paneas.services.llm.circuit import CircuitState
from paneas.services.llm.engines.base import (
    ChatDelta,
    ChatParams,
    EngineBusy,
    EngineRejected,
    EngineUnavailable,
    TokenUsage,
    ToolCallDelta,
)
from paneas.services.llm.errors import ContextLengthExceeded, GenerationFailed, Overloaded
from paneas.services.llm.router import ModelRouter
from paneas.services.llm.serving import ChatServing


class StandInEngine:
    """Answers `deltas` one by one; or, as told, raises `fails` before its first token, never
    answers (`hangs`), or raises EngineUnavailable after `fails_after` deltas."""

    kind = "test"

    def __init__(
        self,
        deltas: list[ChatDelta] | None = None,
        *,
        remote: bool = False,
        fails: Exception | None = None,
        hangs: bool = False,
        fails_after: int | None = None,
    ) -> None:
        self.model = "stand-in"
        self.context_window = 8_000
        self.remote = remote
        self.deltas = deltas or words("hello", "world")
        self.fails = fails
        self.hangs = hangs
        self.fails_after = fails_after
        self.calls = 0
        self.closed = 0
        self.counted = 0
        self.prompt_tokens_given: int | None = None

    async def count_tokens(self, messages, tools) -> int:
        self.counted += 1
        return sum(len(message["content"].split()) for message in messages)

    async def stream(self, params: ChatParams):
        self.calls += 1
        self.prompt_tokens_given = params.prompt_tokens
        try:
            if self.hangs:
                await asyncio.sleep(3600)
            if self.fails is not None:
                raise self.fails
            for number, delta in enumerate(self.deltas):
                if number == self.fails_after:
                    raise EngineUnavailable("the engine crashed")
                yield delta
        finally:
            self.closed += 1


def words(*text: str) -> list[ChatDelta]:
    last = ChatDelta(finish_reason="stop", usage=TokenUsage(prompt_tokens=2, completion_tokens=2))
    return [*(ChatDelta(content=word) for word in text), last]


def serving(primary: StandInEngine, backup: StandInEngine, **spec) -> ChatServing:
    """`primary` falls back to `backup`."""
    router_spec = RouterSpec(fallbacks={"primary": ["backup"]}, **spec)
    router = ModelRouter(
        [ModelEntry(name="primary", engine="one"), ModelEntry(name="backup", engine="two")],
        {"one": primary, "two": backup},
        router_spec,
    )
    return ChatServing(router, router_spec)


QUESTION = ChatParams(messages=[{"role": "user", "content": "say hello"}])


async def answer(generation) -> str:
    return "".join([delta.content async for delta in generation.deltas])


async def test_a_named_model_answers_with_its_own_engine():
    primary, backup = StandInEngine(words("one", "two")), StandInEngine()
    generation = await serving(primary, backup).generate("primary", QUESTION)
    assert (generation.model.name, generation.reason) == ("primary", "explicit")
    assert generation.prompt_tokens == 2
    assert await answer(generation) == "onetwo"
    assert backup.calls == 0
    # The router counted the prompt to route it; the engine is handed that count, once.
    assert (primary.counted, primary.prompt_tokens_given) == (1, 2)


async def test_a_failure_before_the_first_token_hands_over_to_the_fallback():
    primary = StandInEngine(fails=EngineUnavailable("connection refused"))
    backup = StandInEngine(words("from", "backup"))
    chat = serving(primary, backup)
    generation = await chat.generate("primary", QUESTION)
    assert (generation.model.name, generation.reason) == ("backup", "fallback:primary")
    assert await answer(generation) == "frombackup"
    assert primary.closed == 1


async def test_after_allowed_fails_the_broken_engine_is_skipped_until_its_cooldown():
    primary = StandInEngine(fails=EngineUnavailable("connection refused"))
    chat = serving(primary, StandInEngine(), allowed_fails=2, cooldown_seconds=60)
    for _ in range(3):
        generation = await chat.generate("primary", QUESTION)
        assert generation.model.name == "backup"
        await answer(generation)
    assert chat.breakers["one"].state is CircuitState.OPEN
    assert primary.calls == 2  # the third request never reached it


async def test_a_remote_engine_silent_past_the_first_token_timeout_falls_back():
    primary = StandInEngine(remote=True, hangs=True)
    chat = serving(primary, StandInEngine(), first_token_timeout_seconds=0.05)
    generation = await asyncio.wait_for(chat.generate("primary", QUESTION), 5)
    assert (generation.model.name, generation.reason) == ("backup", "fallback:primary")
    assert primary.closed == 1  # the silent call was closed, not left running


async def test_busy_everywhere_is_overloaded_with_the_shortest_hint_and_closed_circuits():
    primary = StandInEngine(fails=EngineBusy("queue full", retry_after=3.0))
    backup = StandInEngine(fails=EngineBusy("queue full", retry_after=1.5))
    chat = serving(primary, backup, allowed_fails=1)
    with pytest.raises(Overloaded) as refused:
        await chat.generate("primary", QUESTION)
    assert refused.value.retry_after == 1.5
    assert refused.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    # Busy is not broken: one more failure would have opened them.
    assert chat.breakers["one"].state is CircuitState.CLOSED
    assert chat.breakers["two"].state is CircuitState.CLOSED


async def test_a_failure_after_the_first_token_ends_the_answer_without_fallback():
    primary = StandInEngine(words("half", "an", "answer"), fails_after=1)
    backup = StandInEngine()
    generation = await serving(primary, backup).generate("primary", QUESTION)
    received = []
    with pytest.raises(GenerationFailed, match="failed mid-answer"):
        async for delta in generation.deltas:
            received.append(delta.content)
    assert received == ["half"]
    assert backup.calls == 0


async def test_an_engines_own_refusal_is_the_callers_error_and_not_retried():
    primary = StandInEngine(fails=EngineRejected("too long", code="context_length_exceeded"))
    backup = StandInEngine()
    with pytest.raises(ContextLengthExceeded) as refused:
        await serving(primary, backup).generate("primary", QUESTION)
    assert refused.value.param == "messages"
    assert backup.calls == 0


async def test_each_tool_call_gets_one_id_and_name_on_its_first_fragment():
    fragments = [
        ChatDelta(tool_calls=[ToolCallDelta(index=0, name="weather", arguments='{"city"')]),
        ChatDelta(tool_calls=[ToolCallDelta(index=0, name="weather", arguments=': "Rio"}')]),
        ChatDelta(tool_calls=[ToolCallDelta(index=1, id="call_given", name="time")]),
        ChatDelta(finish_reason="tool_calls"),
    ]
    generation = await serving(StandInEngine(fragments), StandInEngine()).generate(
        "primary", QUESTION
    )
    calls = [call async for delta in generation.deltas for call in delta.tool_calls]
    assert calls[0].id.startswith("call_") and calls[0].name == "weather"
    assert (calls[1].id, calls[1].name, calls[1].arguments) == ("", "", ': "Rio"}')
    assert (calls[2].id, calls[2].name) == ("call_given", "time")
