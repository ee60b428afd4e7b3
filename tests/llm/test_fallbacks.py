"""Remote engines and the router's fallbacks, on real servers: llama.cpp's OpenAI-compatible
server, a port nobody listens on, and a server that accepts and never answers."""

import asyncio
import time

import grpc
import pytest

from paneas.llm.v1 import llm_pb2
from tests.llm.conftest import greedy, system, trailing, user
from tests.support.metrics import metric_value

pytestmark = pytest.mark.asyncio

QUESTION = [system("You are a helpful assistant."), user("What is the capital of France?")]


async def _chat(mesh, auth_metadata, model: str, max_tokens: int = 8):
    call = mesh.Chat(
        llm_pb2.ChatRequest(model=model, messages=QUESTION, sampling=greedy(max_tokens)),
        metadata=auth_metadata,
    )
    response = await call
    return response, dict(await call.initial_metadata())


async def test_remote_engine_answers_like_the_local_one(mesh, auth_metadata):
    remote, metadata = await _chat(mesh, auth_metadata, "remote", max_tokens=16)
    local, _ = await _chat(mesh, auth_metadata, "local", max_tokens=16)
    assert metadata["x-paneas-model"] == "remote" and remote.model == "remote"
    # The same weights behind a third-party server: the same greedy answer.
    assert remote.choices[0].message.content == local.choices[0].message.content
    assert "Paris" in remote.choices[0].message.content
    assert remote.usage.completion_tokens > 0


async def test_remote_engine_streams_deltas(mesh, auth_metadata):
    chunks = [
        chunk
        async for chunk in mesh.StreamChat(
            llm_pb2.StreamChatRequest(
                model="remote", messages=QUESTION, sampling=greedy(16), include_usage=True
            ),
            metadata=auth_metadata,
        )
    ]
    contents = [c.choices[0].delta.content for c in chunks if c.choices]
    assert len([text for text in contents if text]) > 3
    assert "Paris" in "".join(contents)
    assert chunks[-1].usage.completion_tokens > 0


async def test_remote_refusal_passes_through_without_fallback(mesh, auth_metadata):
    # Over the remote server's real 4096-token window, though the catalogue's router limit
    # would allow it: the server itself refuses, and that is the caller's problem to fix.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.Chat(
            llm_pb2.ChatRequest(
                model="remote", messages=[user("hello " * 3000)], sampling=greedy(2000)
            ),
            metadata=auth_metadata,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_dead_engine_falls_back_then_its_circuit_opens(mesh, llm_mesh, auth_metadata):
    url = llm_mesh.metrics_url
    fallbacks = metric_value(
        url, "paneas_llm_fallbacks_total", from_model="flaky", to_model="local"
    )
    for _ in range(2):  # allowed_fails: 2
        response, metadata = await _chat(mesh, auth_metadata, "flaky")
        assert response.model == "local" and metadata["x-paneas-route"] == "fallback:flaky"
        assert response.choices[0].message.content
    assert metric_value(url, "paneas_llm_circuit_state", engine_name="dead") == 2
    started = time.perf_counter()
    response, metadata = await _chat(mesh, auth_metadata, "flaky")
    assert response.model == "local"
    assert (
        metric_value(
            url,
            "paneas_llm_fallbacks_total",
            from_model="flaky",
            to_model="local",
            reason="circuit_open",
        )
        >= 1
    )
    assert time.perf_counter() - started < 5  # skipped, not retried
    assert (
        metric_value(url, "paneas_llm_fallbacks_total", from_model="flaky", to_model="local")
        >= fallbacks + 2
    )
    # After the cooldown one trial goes through again (and fails again).
    await asyncio.sleep(4.2)
    assert metric_value(url, "paneas_llm_circuit_state", engine_name="dead") == 1
    response, _ = await _chat(mesh, auth_metadata, "flaky")
    assert response.model == "local"
    assert metric_value(url, "paneas_llm_circuit_state", engine_name="dead") == 2


async def test_hanging_engine_times_out_into_the_fallback(mesh, llm_mesh, auth_metadata):
    started = time.perf_counter()
    response, metadata = await _chat(mesh, auth_metadata, "hanging")
    waited = time.perf_counter() - started
    assert response.model == "local" and metadata["x-paneas-route"] == "fallback:hanging"
    assert waited >= 10  # first_token_timeout_seconds
    assert (
        metric_value(
            llm_mesh.metrics_url,
            "paneas_llm_fallbacks_total",
            from_model="hanging",
            to_model="local",
            reason="timeout",
        )
        >= 1
    )


async def test_busy_engine_refuses_with_a_retry_hint(mesh, auth_metadata):
    # The CPU engine generates one request at a time and queues one more (max_waiting: 1).
    def long_request():
        return mesh.Chat(
            llm_pb2.ChatRequest(
                model="local",
                messages=QUESTION,
                sampling=greedy(30),
            ),
            metadata=auth_metadata,
        )

    calls = [long_request() for _ in range(3)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(refused) == 1, results
    error = refused[0]
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert int(trailing(error)["retry-after-ms"]) > 0
    assert trailing(error)["x-paneas-error-code"] == "rate_limit_exceeded"


async def test_auto_keeps_prompts_on_local_engines_without_llm_allow_external(mesh, auth_metadata):
    # The mesh's balanced tier is the remote server; LLM_ALLOW_EXTERNAL is unset (false), so
    # a prompt of the balanced tier's size stays on the local model ...
    counted = await mesh.CountTokens(
        llm_pb2.CountTokensRequest(model="auto", messages=[user("hello " * 2600)]),
        metadata=auth_metadata,
    )
    assert counted.model == "local"
    # ... and `auto` lists only the local tier.
    models = await mesh.ListModels(llm_pb2.ListModelsRequest(), metadata=auth_metadata)
    auto = next(m for m in models.models if m.id == "auto")
    assert "remote" not in auto.resolves_to and "fast=local" in auto.resolves_to
