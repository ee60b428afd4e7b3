"""Live-stream limits against real gateways, a real redis-server and the real ASR service:
a flood of streams and handshakes from one token, idle sockets, oversized frames and audio
sent faster than real time (issue 15)."""

import asyncio
import contextlib
import json
import secrets

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from paneas.gateway.asr.buffer import END, AudioBuffer
from tests.conftest import start_gateway
from tests.gateway.test_asr_websocket import STOP, events_until_closed, start
from tests.support.redis_server import RedisServer

STREAMS_PER_TOKEN = 2
HANDSHAKES_PER_WINDOW = 6
BUFFER_BYTES = 64 * 1024
MAX_FRAME_BYTES = 128 * 1024


@pytest.fixture(scope="module")
def tokens(api_token) -> list[str]:
    """The first is the one the suite's ASR service accepts, for streams that must be served;
    the others only need to pass the gateway."""
    return [api_token, *(secrets.token_urlsafe(16) for _ in range(2))]


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis") / "redis.log")
    yield server
    server.kill()


@pytest.fixture(scope="module")
def replicas(tokens, ocr_service, asr_service, redis, tmp_path_factory):
    """Two gateways sharing one Redis, as replicas behind a load balancer."""
    running = [
        start_gateway(
            ",".join(tokens),
            ocr_service.target,
            tmp_path_factory.mktemp(f"replica-{index}"),
            GATEWAY_ASR_TARGET=asr_service.target,
            REDIS_URL=redis.url,
            RATE_LIMIT_CONCURRENT_STREAMS=str(STREAMS_PER_TOKEN),
            RATE_LIMIT_STREAM_HANDSHAKES=str(HANDSHAKES_PER_WINDOW),
        )
        for index in range(2)
    ]
    yield [gateway.url.replace("http://", "ws://", 1) + "/api/v1/asr/stream" for gateway in running]
    for gateway in running:
        gateway.process.stop()


@pytest.fixture(scope="module")
def tight_gateway(tokens, ocr_service, asr_service, tmp_path_factory):
    running = start_gateway(
        ",".join(tokens),
        ocr_service.target,
        tmp_path_factory.mktemp("tight"),
        GATEWAY_ASR_TARGET=asr_service.target,
        GATEWAY_ASR_STREAM_IDLE_SECONDS="1",
        GATEWAY_ASR_STREAM_BUFFER_BYTES=str(BUFFER_BYTES),
        GATEWAY_ASR_STREAM_MAX_FRAME_BYTES=str(MAX_FRAME_BYTES),
    )
    yield running
    running.process.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def open_stream(url: str, token: str):
    ws = await connect(url, additional_headers=bearer(token))
    # A refused stream may be closed before the start event is sent; its error still comes.
    with contextlib.suppress(ConnectionClosed):
        await ws.send(start())
    return ws, json.loads(await ws.recv())


async def test_a_stream_flood_from_one_token_is_refused_on_every_replica(replicas, tokens):
    first, second = replicas
    held = []
    try:
        for url in (first, second):  # one stream on each replica: the token's two slots
            ws, ready = await open_stream(url, tokens[0])
            assert ready["event"] == "ready", ready
            held.append(ws)
        flood, refusal = await open_stream(first, tokens[0])
        assert refusal["event"] == "error" and refusal["code"] == "RESOURCE_EXHAUSTED"
        assert "RATE_LIMIT_CONCURRENT_STREAMS" in refusal["message"]
        assert refusal["retry_after"] >= 1
        await events_until_closed(flood, within=10)
        assert flood.close_code == 1013
        # Another token is not affected (the service then refuses it, which is beside the point).
        other, ready = await open_stream(second, tokens[1])
        assert ready["event"] == "ready", ready
        held.append(other)
        # A stream that ends frees its slot, on whichever replica.
        await held[0].send(STOP)
        await events_until_closed(held[0], within=60)
        assert held[0].close_code == 1000
        ws, ready = await open_stream(second, tokens[0])
        held.append(ws)
        assert ready["event"] == "ready", ready
    finally:
        for ws in held:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(STOP)
            await events_until_closed(ws, within=60)


async def test_handshakes_beyond_the_limit_are_refused_with_429(replicas, tokens):
    accepted = 0
    with pytest.raises(InvalidStatus) as refused:
        for _ in range(HANDSHAKES_PER_WINDOW + 1):
            async with connect(replicas[accepted % 2], additional_headers=bearer(tokens[2])):
                accepted += 1
    assert accepted == HANDSHAKES_PER_WINDOW
    response = refused.value.response
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert "stream_handshakes" in json.loads(response.body)["message"]


async def test_failed_handshakes_count_against_the_address(replicas):
    url = replicas[0]
    for _ in range(HANDSHAKES_PER_WINDOW):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers=bearer("a-guess")):
                pass
        assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as limited:
        async with connect(url, additional_headers=bearer("another-guess")):
            pass
    assert limited.value.response.status_code == 429


async def test_an_idle_client_is_closed(tight_gateway, tokens):
    url = tight_gateway.url.replace("http://", "ws://", 1) + "/api/v1/asr/stream"
    ws, ready = await open_stream(url, tokens[0])
    assert ready["event"] == "ready"
    events = await events_until_closed(ws, within=30)
    assert events[-1]["event"] == "error" and events[-1]["code"] == "DEADLINE_EXCEEDED"
    assert "GATEWAY_ASR_STREAM_IDLE_SECONDS" in events[-1]["message"]
    assert ws.close_code == 1008


async def test_a_frame_over_the_chunk_limit_closes_the_socket(tight_gateway, tokens):
    url = tight_gateway.url.replace("http://", "ws://", 1) + "/api/v1/asr/stream"
    ws, ready = await open_stream(url, tokens[0])
    assert ready["event"] == "ready"
    await ws.send(b"\0" * (MAX_FRAME_BYTES + 2))
    await events_until_closed(ws, within=30)
    assert ws.close_code == 1009  # message too big


async def test_audio_faster_than_real_time_is_held_back_not_buffered(tight_gateway, tokens):
    """60 s of audio sent as fast as the socket takes it: the gateway never holds more than
    its buffer, and every byte still reaches the service."""
    url = tight_gateway.url.replace("http://", "ws://", 1) + "/api/v1/asr/stream"
    metrics_url = f"{tight_gateway.url}/metrics"
    seconds, frame = 60, b"\0" * 3200  # 100 ms of 16 kHz PCM16 silence
    buffered: list[float] = []
    sending = True

    async def watch() -> None:
        async with httpx.AsyncClient() as client:
            while sending:
                text = (await client.get(metrics_url)).text
                line = next(
                    line
                    for line in text.splitlines()
                    if line.startswith("paneas_gateway_asr_stream_buffered_bytes ")
                )
                buffered.append(float(line.split()[1]))
                await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        ws, ready = await open_stream(url, tokens[0])
        assert ready["event"] == "ready"
        for _ in range(seconds * 10):
            await ws.send(frame)
        await ws.send(STOP)
        events = await events_until_closed(ws, within=120)
    finally:
        sending = False
        await watcher
    assert events[-1]["event"] == "final_summary", events[-3:]
    assert events[-1]["audio_seconds"] == pytest.approx(seconds, abs=0.1)
    assert buffered and max(buffered) <= BUFFER_BYTES


async def test_the_buffer_holds_back_the_sender_once_full():
    buffer = AudioBuffer(max_bytes=10)
    await buffer.put(b"123456")
    blocked = asyncio.create_task(buffer.put(b"789012"))
    await asyncio.sleep(0.05)
    assert not blocked.done() and buffer.bytes == 6  # 12 bytes would not fit
    assert await buffer.get() == b"123456"
    await asyncio.wait_for(blocked, 5)
    assert buffer.bytes == 6
    # A chunk over the whole budget waits for an empty buffer, then goes alone.
    oversized = asyncio.create_task(buffer.put(b"x" * 50))
    await asyncio.sleep(0.05)
    assert not oversized.done()
    assert await buffer.get() == b"789012"
    await asyncio.wait_for(oversized, 5)
    await buffer.put(END)
    assert await buffer.get() == b"x" * 50
    assert await buffer.get() is END
    buffer.clear()
    assert buffer.bytes == 0
