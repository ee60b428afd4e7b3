"""Envoy caps every call's duration: a client's `grpc-timeout` may shorten it, never lengthen
it, and a call without one gets the cap. A real Envoy rendered by services/envoy with short
caps, in front of the suite's real TTS and ASR services: a long synthesis (a unary call) and
a live ASR stream (a request stream) each end with
DEADLINE_EXCEEDED at their route class's cap, although the client asked for far longer.
Both answer nothing before the cap (a synthesis answers at the end, silence gives no
results): a call whose response has begun is reset by Envoy instead, not answered."""

import asyncio
import time
from dataclasses import replace

import grpc
import pytest

from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.services.envoy.config import local_target, render
from paneas.services.envoy.process import EnvoyProcess
from paneas.services.processes import free_port
from paneas.tts.v1 import tts_pb2, tts_pb2_grpc

# Short caps, so that the tests take seconds; the real ones are the gateway's deadlines
# (300-600 s) and ASR_MAX_STREAM_SECONDS (4 h).
CALL_CAP_SECONDS = 2.0
STREAM_CAP_SECONDS = 4.0
# What the clients ask for: far more than either cap.
ASKED_SECONDS = 600
# Envoy's timer and the answer's way back on two busy cores.
SLACK_SECONDS = 3.0
# About two minutes of speech: Kokoro on a CPU needs far longer than the call cap for it.
LONG_TEXT = " ".join(
    f"This is sentence number {n} of a long text that keeps the synthesiser busy."
    for n in range(24)
)


def _port(target: str) -> int:
    return int(target.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def capped_envoy(api_token, asr_service, tts_service, tmp_path_factory):
    target = local_target(
        [_port(asr_service.target)],
        {"tts": _port(tts_service.target)},
        listen_port=free_port(),
        admin_port=free_port(),
        directory_port=free_port(),
    )
    target = replace(
        target,
        max_call_seconds=dict.fromkeys(target.max_call_seconds, CALL_CAP_SECONDS),
        max_stream_seconds=STREAM_CAP_SECONDS,
    )
    envoy = EnvoyProcess(target, tmp_path_factory.mktemp("capped-envoy"), api_token)
    deadline = time.monotonic() + 60
    while not envoy.ready():
        assert time.monotonic() < deadline, envoy.log_text()
        time.sleep(0.1)
    envoy.wait_healthy("tts", {_port(tts_service.target)})
    envoy.wait_healthy("asr", {_port(asr_service.target)})
    yield envoy
    envoy.stop()


def test_every_route_caps_the_duration_by_its_class():
    """Unary-request calls at the service's call cap, request streams at the stream cap."""
    config = render(local_target([50051]))
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    routes = manager["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    caps = {
        route["name"]: route["route"]["max_stream_duration"] for route in routes if "name" in route
    }
    assert caps == {
        "asr-StreamingRecognize": {
            "max_stream_duration": "14400s",
            "grpc_timeout_header_max": "14400s",
        },
        "asr": {"max_stream_duration": "600s", "grpc_timeout_header_max": "600s"},
        "llm": {"max_stream_duration": "300s", "grpc_timeout_header_max": "300s"},
        "ocr": {"max_stream_duration": "300s", "grpc_timeout_header_max": "300s"},
        "tts": {"max_stream_duration": "300s", "grpc_timeout_header_max": "300s"},
        # An upload is a request stream, capped as live streams are; the other calls at the
        # gateway's default deadline.
        "jobs-CreateJob": {
            "max_stream_duration": "14400s",
            "grpc_timeout_header_max": "14400s",
        },
        "jobs": {"max_stream_duration": "120s", "grpc_timeout_header_max": "120s"},
    }
    # No route is left uncapped (health, reflection, the directory included).
    for route in routes:
        if "route" in route:
            assert route["route"]["max_stream_duration"]["grpc_timeout_header_max"] != "0s"


@pytest.mark.slow
@pytest.mark.parametrize("asked", [ASKED_SECONDS, None], ids=["asks-600s", "asks-nothing"])
async def test_a_call_ends_at_the_call_cap_however_long_it_asks(capped_envoy, auth_metadata, asked):
    async with grpc.aio.insecure_channel(capped_envoy.address) as channel:
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await tts_pb2_grpc.TtsServiceStub(channel).Synthesize(
                tts_pb2.SynthesizeRequest(text=LONG_TEXT, voice="af_heart"),
                metadata=auth_metadata,
                timeout=asked,
            )
        elapsed = time.monotonic() - started
    assert raised.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED, raised.value
    assert CALL_CAP_SECONDS - 0.1 <= elapsed <= CALL_CAP_SECONDS + SLACK_SECONDS, elapsed


@pytest.mark.slow
async def test_a_live_stream_ends_at_the_stream_cap(capped_envoy, auth_metadata):
    async with grpc.aio.insecure_channel(capped_envoy.address) as channel:
        call = asr_pb2_grpc.AsrServiceStub(channel).StreamingRecognize(
            metadata=(*auth_metadata, ("x-session-id", "capped")), timeout=ASKED_SECONDS
        )
        started = time.monotonic()
        await call.write(
            asr_pb2.StreamingRecognizeRequest(
                streaming_config=asr_pb2.StreamingRecognitionConfig(
                    encoding=asr_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hertz=16000
                )
            )
        )

        async def speak_silence() -> None:
            # 0.2 s of silence every 0.2 s, for longer than the cap, then the end of audio:
            # uncapped, the stream would end normally with its summary.
            for _ in range(int((STREAM_CAP_SECONDS + 2 * SLACK_SECONDS) / 0.2)):
                await call.write(asr_pb2.StreamingRecognizeRequest(audio=bytes(6400)))
                await asyncio.sleep(0.2)
            await call.done_writing()

        writer = asyncio.create_task(speak_silence())
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            while await call.read() is not grpc.aio.EOF:
                pass
        elapsed = time.monotonic() - started
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    assert raised.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED, raised.value
    assert STREAM_CAP_SECONDS - 0.1 <= elapsed <= STREAM_CAP_SECONDS + SLACK_SECONDS, elapsed
