"""Admission and size limits, on a small dedicated instance: one stream, no queue."""

import asyncio

import grpc
import httpx
import pytest

from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.services.asr.evaluation import sample_path
from paneas.services.processes import ServiceProcess, free_port, grpc_serving, wait_until
from tests.asr.conftest import pcm16_of, run_stream, streaming_config


@pytest.fixture(scope="module")
def small_asr(api_token, tmp_path_factory):
    port, metrics_port = free_port(), free_port()
    env = {
        "API_TOKENS": api_token,
        "ASR_PORT": str(port),
        "ASR_METRICS_PORT": str(metrics_port),
        "ASR_MAX_STREAMS": "1",
        "ASR_MAX_QUEUE": "0",
        "ASR_MAX_STREAM_SECONDS": "4",
        "ASR_MAX_AUDIO_SECONDS": "5",
        "ASR_RETRY_AFTER_SECONDS": "2",
        "ASR_WARMUP": "false",
    }
    service = ServiceProcess(
        "paneas.services.asr", env, tmp_path_factory.mktemp("small-asr") / "asr.log"
    )
    target = f"127.0.0.1:{port}"
    wait_until(lambda: grpc_serving(target), "small ASR service", service.process, timeout=120)
    yield target, f"http://127.0.0.1:{metrics_port}/metrics"
    service.stop()


@pytest.fixture
async def small_stub(small_asr):
    async with grpc.aio.insecure_channel(small_asr[0]) as channel:
        yield asr_pb2_grpc.AsrServiceStub(channel)


async def _active_streams_become(metrics_url: str, value: float, within: float) -> None:
    """Polls the service's own gauge without blocking the event loop the calls run on."""
    name = "paneas_asr_active_streams"
    async with httpx.AsyncClient() as client:
        for _ in range(int(within / 0.05)):
            for line in (await client.get(metrics_url)).text.splitlines():
                if line.startswith(name + " ") and float(line.split()[1]) == value:
                    return
            await asyncio.sleep(0.05)
    raise AssertionError(f"{name} did not become {value} within {within} s")


async def _open_stream(stub, metadata):
    """A stream that has sent its config and one chunk, and waits."""
    queue: asyncio.Queue = asyncio.Queue()

    async def requests():
        yield streaming_config()
        yield asr_pb2.StreamingRecognizeRequest(audio=b"\0" * 3200)
        while (item := await queue.get()) is not None:
            yield item

    call = stub.StreamingRecognize(requests(), metadata=metadata)
    return call, queue


async def test_full_instance_refuses_with_retry_hint_and_cancel_frees_the_slot(
    small_stub, small_asr, auth_metadata
):
    _, metrics_url = small_asr
    call, _ = await _open_stream(small_stub, auth_metadata)
    await _active_streams_become(metrics_url, 1, within=10)

    second, queue = await _open_stream(small_stub, auth_metadata)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in second:
            pass
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "retry in 2 s" in caught.value.details()
    assert ("retry-after-ms", "2000") in tuple(caught.value.trailing_metadata())

    call.cancel()
    await _active_streams_become(metrics_url, 0, within=2)
    run = await run_stream(
        small_stub, auth_metadata, pcm16_of("en_report")[:32000], streaming_config()
    )
    assert run.summary is not None


async def test_stream_over_its_maximum_ends_out_of_range_keeping_what_was_heard(
    small_stub, auth_metadata
):
    responses = []

    async def requests():
        yield streaming_config(config=asr_pb2.RecognitionConfig(language="en"))
        audio = pcm16_of("jfk")
        for offset in range(0, len(audio), 3200):
            yield asr_pb2.StreamingRecognizeRequest(audio=audio[offset : offset + 3200])

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for response in small_stub.StreamingRecognize(requests(), metadata=auth_metadata):
            responses.append(response)
    assert caught.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert "open a new stream" in caught.value.details()
    finals = [r.transcript for resp in responses for r in resp.results if r.is_final]
    assert "fellow americans" in " ".join(finals).lower()


async def test_file_over_the_maximum_is_out_of_range(small_stub, auth_metadata):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await small_stub.Recognize(
            asr_pb2.RecognizeRequest(audio=sample_path("jfk").read_bytes()),
            metadata=auth_metadata,
        )
    assert caught.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert "5 s limit" in caught.value.details()


async def test_busy_instance_refuses_files_instead_of_queueing(small_stub, auth_metadata):
    audio = sample_path("en_weather").read_bytes()
    calls = [
        small_stub.Recognize(asr_pb2.RecognizeRequest(audio=audio), metadata=auth_metadata)
        for _ in range(3)
    ]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    done = [o for o in outcomes if isinstance(o, asr_pb2.RecognizeResponse)]
    assert done and refused
    assert all(o.code() == grpc.StatusCode.RESOURCE_EXHAUSTED for o in refused)
