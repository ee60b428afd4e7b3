"""Chat over gRPC on the embedded default (llama.cpp, packaged SmolLM2): OpenAI's semantics."""

import asyncio
import json

import grpc
import pytest

from paneas.llm.v1 import llm_pb2
from tests.llm.conftest import greedy, system, trailing, user
from tests.support.metrics import metric_value

pytestmark = pytest.mark.asyncio

QUESTION = [system("You are a helpful assistant."), user("What is the capital of France?")]


async def _stream(llm, auth_metadata, request) -> list[llm_pb2.StreamChatResponse]:
    return [chunk async for chunk in llm.StreamChat(request, metadata=auth_metadata)]


async def test_chat_answers_and_reports_usage_and_route(llm, auth_metadata):
    request = llm_pb2.ChatRequest(
        model="smollm2-135m-instruct", messages=QUESTION, sampling=greedy(24)
    )
    call = llm.Chat(request, metadata=auth_metadata)
    response = await call
    metadata = dict(await call.initial_metadata())
    assert metadata["x-paneas-model"] == "smollm2-135m-instruct"
    assert metadata["x-paneas-route"] == "explicit"
    choice = response.choices[0]
    assert "Paris" in choice.message.content
    assert choice.message.role == llm_pb2.ROLE_ASSISTANT
    assert choice.finish_reason == llm_pb2.FINISH_REASON_STOP
    assert response.model == "smollm2-135m-instruct" and response.id.startswith("chatcmpl-")
    counted = await llm.CountTokens(
        llm_pb2.CountTokensRequest(model="smollm2-135m-instruct", messages=QUESTION),
        metadata=auth_metadata,
    )
    usage = response.usage
    assert usage.prompt_tokens == counted.token_count
    assert 0 < usage.completion_tokens <= 24
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_stream_equals_unary_answer_and_ends_with_usage(llm, auth_metadata):
    unary = await llm.Chat(
        llm_pb2.ChatRequest(model="paneas-q32b", messages=QUESTION, sampling=greedy(24)),
        metadata=auth_metadata,
    )
    chunks = await _stream(
        llm,
        auth_metadata,
        llm_pb2.StreamChatRequest(
            model="paneas-q32b", messages=QUESTION, sampling=greedy(24), include_usage=True
        ),
    )
    *content_chunks, usage_chunk = chunks
    assert len(content_chunks) > 3
    assert len({chunk.id for chunk in chunks}) == 1
    assert content_chunks[0].choices[0].delta.role == llm_pb2.ROLE_ASSISTANT
    assert all(not c.choices[0].delta.role for c in content_chunks[1:])
    finishes = [c.choices[0].finish_reason for c in content_chunks]
    assert finishes[:-1] == [llm_pb2.FINISH_REASON_UNSPECIFIED] * (len(finishes) - 1)
    assert finishes[-1] == unary.choices[0].finish_reason
    text = "".join(c.choices[0].delta.content for c in content_chunks)
    assert text == unary.choices[0].message.content
    assert not usage_chunk.choices
    assert usage_chunk.usage == unary.usage


async def test_max_tokens_cuts_with_length(llm, auth_metadata):
    response = await llm.Chat(
        llm_pb2.ChatRequest(model="auto", messages=QUESTION, sampling=greedy(3)),
        metadata=auth_metadata,
    )
    assert response.choices[0].finish_reason == llm_pb2.FINISH_REASON_LENGTH
    assert response.usage.completion_tokens == 3


async def test_stop_sequence_ends_the_answer_before_it(llm, auth_metadata):
    free = await llm.Chat(
        llm_pb2.ChatRequest(model="auto", messages=QUESTION, sampling=greedy(24)),
        metadata=auth_metadata,
    )
    text = free.choices[0].message.content
    stop_word = "France"
    assert stop_word in text, text
    stopped = await llm.Chat(
        llm_pb2.ChatRequest(model="auto", messages=QUESTION, sampling=greedy(24, stop=[stop_word])),
        metadata=auth_metadata,
    )
    assert stopped.choices[0].message.content == text[: text.index(stop_word)]
    assert stopped.choices[0].finish_reason == llm_pb2.FINISH_REASON_STOP


async def test_json_object_response_format_gives_json(llm, auth_metadata):
    response = await llm.Chat(
        llm_pb2.ChatRequest(
            model="auto",
            messages=[user("Return a JSON object with one key, city, set to Paris.")],
            sampling=greedy(80),
            response_format=llm_pb2.ResponseFormat(type=llm_pb2.RESPONSE_FORMAT_TYPE_JSON_OBJECT),
        ),
        metadata=auth_metadata,
    )
    choice = response.choices[0]
    assert choice.finish_reason == llm_pb2.FINISH_REASON_STOP, choice.message.content
    assert isinstance(json.loads(choice.message.content), dict)


async def test_json_schema_response_format_follows_the_schema(llm, auth_metadata):
    response_format = llm_pb2.ResponseFormat(type=llm_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA)
    response_format.json_schema.update(
        {
            "name": "cat",
            "schema": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                "required": ["name", "age"],
                "additionalProperties": False,
            },
        }
    )
    response = await llm.Chat(
        llm_pb2.ChatRequest(
            model="auto",
            messages=[user("Describe a cat named Tom.")],
            sampling=greedy(80),
            response_format=response_format,
        ),
        metadata=auth_metadata,
    )
    cat = json.loads(response.choices[0].message.content)
    assert set(cat) == {"name", "age"} and isinstance(cat["age"], int)


WEATHER_TOOL = llm_pb2.Tool(
    type="function",
    function=llm_pb2.FunctionDefinition(
        name="get_weather", description="Current weather in a city"
    ),
)
WEATHER_TOOL.function.parameters.update(
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
)


async def test_forced_tool_call_streams_fragments_by_index(llm, auth_metadata):
    chunks = await _stream(
        llm,
        auth_metadata,
        llm_pb2.StreamChatRequest(
            model="auto",
            messages=[user("What is the weather in Paris?")],
            sampling=greedy(60),
            tools=[WEATHER_TOOL],
            tool_choice=llm_pb2.ToolChoice(function_name="get_weather"),
        ),
    )
    fragments = [call for c in chunks for call in c.choices[0].delta.tool_calls]
    assert fragments and {f.index for f in fragments} == {0}
    first, *rest = fragments
    assert first.id and first.type == "function" and first.function.name == "get_weather"
    assert all(not f.id and not f.function.name for f in rest)
    arguments = json.loads("".join(f.function.arguments for f in fragments))
    assert set(arguments) == {"city"}
    assert chunks[-1].choices[0].finish_reason == llm_pb2.FINISH_REASON_TOOL_CALLS


async def test_tool_result_round_trip(llm, auth_metadata):
    call = (
        (
            await llm.Chat(
                llm_pb2.ChatRequest(
                    model="auto",
                    messages=[user("What is the weather in Paris?")],
                    sampling=greedy(60),
                    tools=[WEATHER_TOOL],
                    tool_choice=llm_pb2.ToolChoice(mode="required"),
                ),
                metadata=auth_metadata,
            )
        )
        .choices[0]
        .message.tool_calls[0]
    )
    answer = await llm.Chat(
        llm_pb2.ChatRequest(
            model="auto",
            messages=[
                user("What is the weather in Paris?"),
                llm_pb2.Message(role=llm_pb2.ROLE_ASSISTANT, tool_calls=[call]),
                llm_pb2.Message(
                    role=llm_pb2.ROLE_TOOL,
                    tool_call_id=call.id,
                    content='{"city": "Paris", "weather": "sunny", "celsius": 24}',
                ),
            ],
            sampling=greedy(40),
            tools=[WEATHER_TOOL],
            # The 135M model, left to choose, calls the tool again; a bigger one answers.
            tool_choice=llm_pb2.ToolChoice(mode="none"),
        ),
        metadata=auth_metadata,
    )
    choice = answer.choices[0]
    assert "sunny" in choice.message.content.lower() or "24" in choice.message.content
    assert choice.finish_reason in (llm_pb2.FINISH_REASON_STOP, llm_pb2.FINISH_REASON_LENGTH)
    assert choice.message.content.strip() and not choice.message.tool_calls


@pytest.mark.parametrize(
    ("words", "model", "route"),
    [(20, "paneas-v1-q14b", "auto:fast"), (2600, "paneas-q32b", "auto:balanced")],
)
async def test_auto_routes_by_prompt_tokens(llm, auth_metadata, words, model, route):
    messages = [user("hello " * words)]
    counted = await llm.CountTokens(
        llm_pb2.CountTokensRequest(model="auto", messages=messages), metadata=auth_metadata
    )
    assert counted.model == model
    call = llm.Chat(
        llm_pb2.ChatRequest(model="auto", messages=messages, sampling=greedy(1)),
        metadata=auth_metadata,
    )
    response = await call
    assert response.model == model
    assert dict(await call.initial_metadata())["x-paneas-route"] == route
    assert response.usage.prompt_tokens == counted.token_count


@pytest.mark.parametrize(
    ("words", "limit"), [(8300, "maximum context length is 8192"), (33000, "limit of 32768")]
)
async def test_prompt_over_the_context_is_refused_before_generation(
    llm, llm_service, auth_metadata, words, limit
):
    before = metric_value(llm_service.metrics_url, "paneas_llm_request_success_total")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await llm.Chat(
            llm_pb2.ChatRequest(model="auto", messages=[user("hello " * words)]),
            metadata=auth_metadata,
        )
    error = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert limit in error.details()
    assert trailing(error)["x-paneas-error-code"] == "context_length_exceeded"
    assert metric_value(llm_service.metrics_url, "paneas_llm_request_success_total") == before


@pytest.mark.parametrize(
    ("request_", "code", "param", "words"),
    [
        (
            llm_pb2.ChatRequest(model="gpt-5", messages=[user("hi")]),
            grpc.StatusCode.NOT_FOUND,
            "model",
            "GET /v1/models",
        ),
        (
            llm_pb2.ChatRequest(messages=[user("hi")], sampling=llm_pb2.SamplingParams(n=2)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "n",
            "only n=1",
        ),
        (llm_pb2.ChatRequest(model="auto"), grpc.StatusCode.INVALID_ARGUMENT, "messages", "empty"),
        (
            llm_pb2.ChatRequest(
                messages=[user("hi")], sampling=llm_pb2.SamplingParams(temperature=3)
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "temperature",
            "between 0 and 2",
        ),
        (
            llm_pb2.ChatRequest(
                messages=[user("hi"), llm_pb2.Message(role=llm_pb2.ROLE_TOOL, content="{}")]
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "messages[1].tool_call_id",
            "tool_call_id",
        ),
    ],
    ids=["unknown-model", "n", "no-messages", "temperature", "tool-without-id"],
)
async def test_bad_requests_get_actionable_errors(llm, auth_metadata, request_, code, param, words):
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await llm.Chat(request_, metadata=auth_metadata)
    assert raised.value.code() == code
    assert words in raised.value.details()
    assert trailing(raised.value)["x-paneas-error-param"] == param


async def test_cancelling_a_stream_stops_generation(llm, llm_service, auth_metadata):
    url = llm_service.metrics_url
    aborted = metric_value(url, "paneas_llm_request_success_total", finished_reason="abort")
    call = llm.StreamChat(
        llm_pb2.StreamChatRequest(
            model="auto",
            # Greedy, this prompt runs past 600 tokens, so the model cannot finish by itself
            # before the cancel arrives.
            messages=[user("Write a very long story about a dragon.")],
            sampling=greedy(4000),
        ),
        metadata=auth_metadata,
    )
    received = 0
    async for _ in call:
        received += 1
        if received == 5:
            break
    call.cancel()
    for _ in range(40):
        running = metric_value(url, "paneas_llm_num_requests_running", engine="llama_cpp")
        if running == 0:
            break
        await asyncio.sleep(0.05)
    assert running == 0
    finished = metric_value(url, "paneas_llm_request_success_total", finished_reason="abort")
    assert finished == aborted + 1
    # The engine is free again at once: a new request is served.
    response = await llm.Chat(
        llm_pb2.ChatRequest(model="auto", messages=QUESTION, sampling=greedy(2)),
        metadata=auth_metadata,
    )
    assert response.usage.completion_tokens == 2


async def test_list_models_shows_tiers_and_what_they_resolve_to(llm, auth_metadata):
    response = await llm.ListModels(llm_pb2.ListModelsRequest(), metadata=auth_metadata)
    models = {model.id: model for model in response.models}
    assert set(models) == {"auto", "paneas-q32b", "paneas-v1-q14b", "smollm2-135m-instruct"}
    assert models["paneas-v1-q14b"].tier == "fast" and models["paneas-q32b"].tier == "balanced"
    for name in ("paneas-q32b", "paneas-v1-q14b", "smollm2-135m-instruct"):
        assert models[name].engine == "llama_cpp"
        assert models[name].resolves_to == "packaged:smollm2-135m-instruct"
        assert models[name].context_window == 8192
    assert "fast=paneas-v1-q14b" in models["auto"].resolves_to


async def test_metrics_follow_vllm_names(llm, llm_service, auth_metadata):
    url = llm_service.metrics_url
    labels = {"model_name": "smollm2-135m-instruct", "engine": "llama_cpp"}
    before = {
        name: metric_value(url, name, **labels)
        for name in (
            "paneas_llm_time_to_first_token_seconds_count",
            "paneas_llm_e2e_request_latency_seconds_count",
            "paneas_llm_generation_tokens_total",
        )
    }
    response = await llm.Chat(
        llm_pb2.ChatRequest(model="smollm2-135m-instruct", messages=QUESTION, sampling=greedy(5)),
        metadata=auth_metadata,
    )
    after = {name: metric_value(url, name, **labels) for name in before}
    assert after["paneas_llm_time_to_first_token_seconds_count"] == (
        before["paneas_llm_time_to_first_token_seconds_count"] + 1
    )
    assert after["paneas_llm_e2e_request_latency_seconds_count"] == (
        before["paneas_llm_e2e_request_latency_seconds_count"] + 1
    )
    assert after["paneas_llm_generation_tokens_total"] == (
        before["paneas_llm_generation_tokens_total"] + response.usage.completion_tokens
    )
    decisions = metric_value(
        url,
        "paneas_llm_router_decisions_total",
        requested="smollm2-135m-instruct",
        model_name="smollm2-135m-instruct",
        reason="explicit",
    )
    assert decisions >= 1
