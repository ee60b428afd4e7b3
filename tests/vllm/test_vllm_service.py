"""The LLM service itself, run from the vLLM venv with a catalogue shaped like the reference
box's: a vLLM engine for the fast tier and the embedded llama.cpp model beside it."""

import secrets

import grpc
import pytest
import yaml

from paneas.llm.v1 import llm_pb2, llm_pb2_grpc
from paneas.services.llm.engines.base import ChatParams
from paneas.services.processes import ServiceProcess, free_port, grpc_serving, wait_until

QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def service(model_path, tmp_path_factory):
    work = tmp_path_factory.mktemp("vllm-service")
    catalogue = {
        "engines": {
            "gpu": {
                "kind": "vllm",
                "model": str(model_path),
                "served_model_name": "smollm2-135m-instruct-vllm",
                "max_model_len": 2048,
                # Beside the session's engine: 0.1 of the RAM for this one's KV cache.
                "gpu_memory_utilization": 0.1,
                "enforce_eager": True,
            },
            "cpu": {"kind": "llama_cpp", "model": "packaged:smollm2-135m-instruct"},
        },
        "models": [
            {"name": "paneas-v1-q14b", "engine": "gpu", "tier": "fast"},
            {"name": "smollm2-135m-instruct", "engine": "cpu"},
        ],
        "router": {"default_model": "auto", "max_context_tokens": 2048},
    }
    path = work / "catalogue.yaml"
    path.write_text(yaml.safe_dump(catalogue))
    token = secrets.token_urlsafe(16)
    port = free_port()
    env = {
        "API_TOKENS": token,
        "LLM_PORT": str(port),
        "LLM_METRICS_PORT": "0",
        "LLM_CATALOGUE": str(path),
    }
    process = ServiceProcess("paneas.services.llm", env, work / "llm.log")
    target = f"127.0.0.1:{port}"
    try:
        wait_until(lambda: grpc_serving(target), "llm service on vLLM", process.process, 300)
        yield target, (("authorization", f"Bearer {token}"),)
    finally:
        process.stop()


async def test_auto_streams_from_the_vllm_engine_over_grpc(service, engine):
    target, metadata = service
    request = llm_pb2.StreamChatRequest(
        model="auto",
        messages=[llm_pb2.Message(role=llm_pb2.ROLE_USER, content=QUESTION)],
        sampling=llm_pb2.SamplingParams(temperature=0, max_tokens=40),
        include_usage=True,
    )
    async with grpc.aio.insecure_channel(target) as channel:
        call = llm_pb2_grpc.LlmServiceStub(channel).StreamChat(request, metadata=metadata)
        served = dict(await call.initial_metadata())
        chunks = [chunk async for chunk in call]
    text = "".join(choice.delta.content for chunk in chunks for choice in chunk.choices)
    assert served["x-paneas-model"] == "paneas-v1-q14b"
    assert served["x-paneas-route"] == "auto:fast"
    assert {chunk.model for chunk in chunks} == {"paneas-v1-q14b"}
    assert len([c for c in chunks if any(choice.delta.content for choice in c.choices)]) >= 3
    # The same greedy answer the engine gives in this process: the service adds nothing.
    direct = [
        delta.content
        async for delta in engine.stream(
            ChatParams(
                messages=[{"role": "user", "content": QUESTION}], temperature=0, max_tokens=40
            )
        )
    ]
    assert text == "".join(direct)
    assert "Paris" in text
    usage = chunks[-1].usage
    assert usage.prompt_tokens == await engine.count_tokens(
        [{"role": "user", "content": QUESTION}], []
    )


async def test_models_list_both_engines_and_an_overlong_prompt_is_refused(service):
    target, metadata = service
    async with grpc.aio.insecure_channel(target) as channel:
        stub = llm_pb2_grpc.LlmServiceStub(channel)
        models = await stub.ListModels(llm_pb2.ListModelsRequest(), metadata=metadata)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Chat(
                llm_pb2.ChatRequest(
                    model="paneas-v1-q14b",
                    messages=[llm_pb2.Message(role=llm_pb2.ROLE_USER, content="word " * 3000)],
                ),
                metadata=metadata,
            )
    engines = {model.id: model.engine for model in models.models}
    assert engines == {
        "auto": "router",
        "paneas-v1-q14b": "vllm",
        "smollm2-135m-instruct": "llama_cpp",
    }
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "over the limit of 2048" in raised.value.details()
    trailing = dict(raised.value.trailing_metadata())
    assert trailing["x-paneas-error-code"] == "context_length_exceeded"
