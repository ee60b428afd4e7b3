"""Chat over REST: /v1/chat/completions, /api/v1/chat/completions and /v1/models through the
official `openai` client (and raw HTTP where the wire itself is the point), against the real
LLM service on its embedded SmolLM2. Generations are greedy and short to keep this quick."""

import json
import time

import grpc
import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from paneas.gateway.openai.chat.errors import llm_error
from tests.conftest import start_gateway

pytestmark = pytest.mark.backends("llm")

MODEL = "smollm2-135m-instruct"
SERVED = {"auto", "paneas-q32b", "paneas-v1-q14b", MODEL}
QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
WEATHER_QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
LONG_TASK = [{"role": "user", "content": "Write a very long story about a dragon."}]


@pytest.fixture(scope="module")
def client(gateway, api_token) -> openai.OpenAI:
    # No retries: a refusal must surface as the error the test expects.
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=api_token, max_retries=0)


@pytest.fixture(scope="module")
def headers(api_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token}"}


@pytest.fixture(scope="module")
def completion(client):
    """One greedy answer through the router ("auto"), raw, for the tests that compare."""
    return client.chat.completions.with_raw_response.create(
        model="auto", messages=QUESTION, temperature=0, max_tokens=16
    )


def sse_data(response: httpx.Response) -> list[str]:
    return [line[len("data:") :].strip() for line in response.iter_lines() if line[:5] == "data:"]


def openai_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def test_completion_names_the_model_that_served(completion, gateway, headers):
    result = completion.parse()
    assert result.object == "chat.completion" and result.id
    # "auto" is routed: the body and the headers say to which model, and why.
    assert result.model == "paneas-v1-q14b"
    assert completion.headers["x-paneas-model"] == result.model
    assert completion.headers["x-paneas-route"] == "auto:fast"
    [choice] = result.choices
    assert choice.index == 0 and choice.logprobs is None
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.message.tool_calls is None
    assert choice.finish_reason in ("stop", "length")
    usage = result.usage
    assert 0 < usage.completion_tokens <= 16 and usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    # Analytics count the served model's tokens (written in the background).
    deadline = time.monotonic() + 10
    while recorded_tokens(gateway.url, headers, result.model) < usage.total_tokens:
        assert time.monotonic() < deadline, "tokens not recorded"
        time.sleep(0.2)


def recorded_tokens(url: str, headers: dict[str, str], model: str) -> int:
    response = httpx.get(
        f"{url}/api/v1/analytics", headers=headers, params={"group_by": "route,model"}
    )
    return sum(
        group["totals"]["prompt_tokens"] + group["totals"]["completion_tokens"]
        for group in response.json()["groups"]
        if group["route"] == "/v1/chat/completions" and group["model"] == model
    )


def test_stream_is_openais_sse_and_matches_the_completion(completion, gateway, headers):
    expected = completion.parse()
    body = {
        "model": "auto",
        "messages": QUESTION,
        "temperature": 0,
        "max_tokens": 16,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream(
        "POST", f"{gateway.url}/v1/chat/completions", headers=headers, json=body, timeout=60
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-paneas-model"] == expected.model
        data = sse_data(response)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    *deltas, usage_chunk = chunks
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert {chunk["model"] for chunk in chunks} == {expected.model}
    # include_usage: every chunk has the key, null until the last, which has no choices.
    assert all(chunk["usage"] is None for chunk in deltas)
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == expected.usage.model_dump(
        include={"prompt_tokens", "completion_tokens", "total_tokens"}
    )
    assert deltas[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all("role" not in chunk["choices"][0]["delta"] for chunk in deltas[1:])
    reasons = [chunk["choices"][0]["finish_reason"] for chunk in deltas]
    assert reasons[:-1] == [None] * (len(deltas) - 1)
    assert reasons[-1] == expected.choices[0].finish_reason
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in deltas)
    assert text == expected.choices[0].message.content


def test_a_forced_tool_call_and_the_round_trip(client):
    forced = client.chat.completions.create(
        model=MODEL,
        messages=WEATHER_QUESTION,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0,
        max_tokens=60,
    )
    [choice] = forced.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id and call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)

    answered = client.chat.completions.create(
        model=MODEL,
        messages=[
            *WEATHER_QUESTION,
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 22 C"},
        ],
        tools=[WEATHER_TOOL],
        tool_choice="none",
        temperature=0,
        max_tokens=30,
    )
    [choice] = answered.choices
    assert choice.message.tool_calls is None and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")


def test_streamed_tool_calls_arrive_by_index_and_reassemble(client):
    stream = client.chat.completions.create(
        model=MODEL,
        messages=WEATHER_QUESTION,
        tools=[WEATHER_TOOL],
        tool_choice="required",
        temperature=0,
        max_tokens=60,
        stream=True,
    )
    calls: dict[int, dict] = {}
    reasons = []
    for chunk in stream:
        [choice] = chunk.choices
        reasons.append(choice.finish_reason)
        for fragment in choice.delta.tool_calls or ():
            if fragment.index not in calls:
                # The first fragment of a call carries its id, type and name.
                assert fragment.id and fragment.type == "function" and fragment.function.name
                calls[fragment.index] = {"name": fragment.function.name, "arguments": ""}
            else:
                assert fragment.id is None and fragment.function.name is None
            calls[fragment.index]["arguments"] += fragment.function.arguments or ""
    assert reasons[-1] == "tool_calls" and set(reasons[:-1]) == {None}
    assert list(calls) == [0] and calls[0]["name"] == "get_weather"
    assert isinstance(json.loads(calls[0]["arguments"]), dict)


def test_json_object_response_format(client):
    result = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Describe a person as JSON with name and age."}],
        response_format={"type": "json_object"},
        temperature=0,
        max_tokens=80,
    )
    assert result.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(result.choices[0].message.content), dict)


def test_stop_sequences_end_the_answer(client):
    def count(**options):
        return client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Count from 1 to 10."}],
            temperature=0,
            max_tokens=40,
            **options,
        ).choices[0]

    free, stopped = count(), count(stop=["5", "five"])
    assert "5" in free.message.content
    assert stopped.finish_reason == "stop"
    assert stopped.message.content == free.message.content.split("5")[0]


@pytest.mark.parametrize(
    "limits, most",
    [({"max_tokens": 3}, 3), ({"max_tokens": 50, "max_completion_tokens": 2}, 2)],
    ids=["max_tokens", "max_completion_tokens-wins"],
)
def test_token_limits_end_with_length(client, limits, most):
    result = client.chat.completions.create(
        model=MODEL, messages=LONG_TASK, temperature=0, **limits
    )
    assert result.choices[0].finish_reason == "length"
    assert 0 < result.usage.completion_tokens <= most


def test_the_api_prefix_serves_the_same_handler(gateway, headers):
    body = {"model": MODEL, "messages": QUESTION, "temperature": 0, "max_tokens": 1}
    response = httpx.post(
        f"{gateway.url}/api/v1/chat/completions", headers=headers, json=body, timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "chat.completion"
    assert response.headers["x-paneas-model"] == MODEL
    malformed = httpx.post(
        f"{gateway.url}/api/v1/chat/completions",
        headers={**headers, "Content-Type": "application/json"},
        content=b'{"model": ',
    )
    assert openai_error(malformed, 400)["param"] is None


def test_models_list_every_served_name(client):
    models = list(client.models.list())
    assert {model.id for model in models} == SERVED  # no gpt-4o-mini without an OpenAI key
    for model in models:
        extra = model.model_dump()
        assert model.object == "model" and model.owned_by
        assert extra["resolves_to"] and extra["engine"] and extra["context_window"] > 0
    assert client.models.retrieve(MODEL).owned_by == "huggingfacetb"
    with pytest.raises(openai.NotFoundError) as raised:
        client.models.retrieve("no-such-model")
    assert raised.value.body["code"] == "model_not_found"


def test_unknown_model_is_a_404_model_not_found(client):
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="no-such-model", messages=QUESTION)
    assert raised.value.body["code"] == "model_not_found"
    assert raised.value.body["param"] == "model"


def test_a_prompt_over_the_context_window_is_a_400(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "word " * 9000}], max_tokens=1
        )
    assert raised.value.body["code"] == "context_length_exceeded"
    assert raised.value.body["param"] == "messages"


def test_n_other_than_1_is_a_400(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=MODEL, messages=QUESTION, n=2)
    assert raised.value.body["param"] == "n"


def test_a_wrong_key_is_a_401(gateway):
    bad_key = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad_key.chat.completions.create(model=MODEL, messages=QUESTION)
    with pytest.raises(openai.AuthenticationError):
        bad_key.models.list()


@pytest.mark.parametrize(
    "body, param",
    [
        (b'{"model": "x", "messages": [', None),
        (b'["not an object"]', None),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "model"),
        (b'{"model": "x", "messages": []}', "messages"),
        (b'{"model": "x", "messages": [{"role": "pilot", "content": "hi"}]}', "messages"),
        (
            b'{"model": "x", "messages": [{"role": "user", "content": '
            b'[{"type": "image_url", "image_url": {"url": "http://a/b.png"}}]}]}',
            "messages",
        ),
        (b'{"model": "x", "messages": [{"role": "tool", "content": "ok"}]}', "messages"),
        (
            b'{"model": "x", "messages": [{"role": "user", "content": "hi"}], "temperature": 3}',
            "temperature",
        ),
        (
            b'{"model": "x", "messages": [{"role": "user", "content": "hi"}], '
            b'"stop": ["a", "b", "c", "d", "e"]}',
            "stop",
        ),
        (
            b'{"model": "x", "messages": [{"role": "user", "content": "hi"}], '
            b'"stream_options": {"include_usage": true}}',
            "stream_options",
        ),
        (
            b'{"model": "x", "messages": [{"role": "user", "content": "hi"}], '
            b'"tool_choice": "sometimes"}',
            "tool_choice",
        ),
        (
            b'{"model": "x", "messages": [{"role": "user", "content": "hi"}], '
            b'"response_format": {"type": "yaml"}}',
            "response_format",
        ),
        (
            b'{"model": "x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}',
            "max_tokens",
        ),
        (b'{"model": "x", "messages": [{"role": "user", "content": "\\ud800"}]}', None),
    ],
    ids=[
        "malformed-json",
        "not-an-object",
        "no-model",
        "no-messages",
        "unknown-role",
        "image-part",
        "tool-without-call-id",
        "temperature",
        "five-stops",
        "stream-options-without-stream",
        "tool-choice",
        "response-format",
        "max-tokens",
        "lone-surrogate",
    ],
)
def test_bad_requests_are_400s_with_openais_body(gateway, headers, body, param):
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        headers={**headers, "Content-Type": "application/json"},
        content=body,
    )
    error = openai_error(response, 400)
    assert error["type"] == "invalid_request_error" and error["message"]
    assert error["param"] == param


def test_an_error_mid_stream_is_an_openai_error_event(client, llm_service):
    # A deadline shorter than the answer (~11 s for 2000 tokens) but past the first token,
    # with room for a loaded machine: the stream has started when the call fails. A
    # generation a previous test left would take the first token past it.
    wait_for_idle_engine(llm_service, "StreamChat")
    stream = client.chat.completions.create(
        model=MODEL,
        messages=LONG_TASK,
        max_tokens=2000,
        stream=True,
        extra_headers={"Grpc-Timeout": "2S"},
    )
    received = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            received.append(chunk)
    assert received, "the error came before the first chunk"
    assert raised.value.body["type"] == "server_error"
    assert "deadline" in raised.value.message.lower()


def llm_metric(llm_service, name: str, **labels: str) -> float:
    text = httpx.get(llm_service.metrics_url).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def wait_for_idle_engine(llm_service, method: str) -> None:
    deadline = time.monotonic() + 3
    while llm_metric(llm_service, "grpc_server_in_flight", grpc_method=method) or llm_metric(
        llm_service, "paneas_llm_num_requests_running"
    ):
        assert time.monotonic() < deadline, f"{method} still generating after the client left"
        time.sleep(0.1)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "unary"])
def test_a_client_that_leaves_stops_the_generation(gateway, headers, llm_service, stream):
    method = "StreamChat" if stream else "Chat"
    cancelled = {"grpc_method": method, "grpc_code": "CANCELLED"}
    before = llm_metric(llm_service, "grpc_server_handled_total", **cancelled)
    body = {"model": MODEL, "messages": LONG_TASK, "max_tokens": 2000, "stream": stream}
    url = f"{gateway.url}/v1/chat/completions"
    if stream:
        with httpx.stream("POST", url, headers=headers, json=body, timeout=60) as response:
            events = 0
            for line in response.iter_lines():
                events += line.startswith("data:")
                if events == 3:
                    assert llm_metric(llm_service, "paneas_llm_num_requests_running") == 1
                    break
    else:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url, headers=headers, json=body, timeout=1.5)
    # 2000 tokens take tens of seconds; gone within a moment means the engine stopped.
    wait_for_idle_engine(llm_service, method)
    # At least this call ended CANCELLED (another test's cancelled call on the suite's shared
    # LLM service may be counted in the same moment: CI once saw +2).
    assert llm_metric(llm_service, "grpc_server_handled_total", **cancelled) >= before + 1


@pytest.fixture(scope="module")
def limited_gateway(api_token, llm_service, tmp_path_factory):
    running = start_gateway(
        api_token,
        "",
        tmp_path_factory.mktemp("chat-limits"),
        GATEWAY_LLM_TARGET=llm_service.target,
        RATE_LIMIT_LLM="1",
    )
    yield running
    running.process.stop()


def test_the_llm_rate_limit_is_a_rate_limit_error(limited_gateway, api_token):
    client = openai.OpenAI(base_url=f"{limited_gateway.url}/v1", api_key=api_token, max_retries=0)
    client.models.list()  # the one request of the window
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=1)
    assert raised.value.body["code"] == "rate_limit_exceeded"
    assert int(raised.value.response.headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    "code, trailing, status, error_type, error_code, param",
    [
        (
            "INVALID_ARGUMENT",
            {"x-paneas-error-code": "context_length_exceeded", "x-paneas-error-param": "messages"},
            400,
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        ),
        ("NOT_FOUND", {}, 404, "invalid_request_error", "model_not_found", "model"),
        (
            "RESOURCE_EXHAUSTED",
            {"x-paneas-error-code": "rate_limit_exceeded", "retry-after-ms": "1500"},
            429,
            "requests",
            "rate_limit_exceeded",
            None,
        ),
        (
            "UNAVAILABLE",
            {"x-paneas-error-code": "engine_unavailable"},
            503,
            "server_error",
            "engine_unavailable",
            None,
        ),
        ("DEADLINE_EXCEEDED", {}, 504, "server_error", None, None),
        ("UNAUTHENTICATED", {}, 401, "invalid_request_error", "invalid_api_key", None),
    ],
)
def test_service_errors_become_openai_errors(code, trailing, status, error_type, error_code, param):
    initial = grpc.aio.Metadata(("x-paneas-model", "m"), ("x-paneas-route", "explicit"))
    error = llm_error(
        grpc.aio.AioRpcError(
            grpc.StatusCode[code], initial, grpc.aio.Metadata(*trailing.items()), "it failed"
        )
    )
    response = error.response()
    assert response.status_code == status
    assert json.loads(response.body) == {
        "error": {"message": "it failed", "type": error_type, "param": param, "code": error_code}
    }
    assert response.headers["x-paneas-model"] == "m"
    assert response.headers["x-paneas-route"] == "explicit"
    if code == "RESOURCE_EXHAUSTED":
        assert response.headers["retry-after"] == "2"
