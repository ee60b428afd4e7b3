"""SIGTERM to a gateway with live streams open: the utterance being spoken is not lost. A real
gateway in front of the suite's real ASR service; a client streams recorded speech in real
time and the gateway is told to stop mid-utterance. The client still gets the final result
of that utterance (and the native stream its summary), then close 1001 (going away), while
new connections are refused; then the gateway exits."""

import asyncio
import base64
import contextlib
import json
import signal
import time
from collections.abc import Callable

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from paneas.services.asr.evaluation import read_pcm16, sample_path
from tests.conftest import start_gateway
from tests.gateway.test_realtime import COMPLETED, of, pcm_at

pytestmark = pytest.mark.slow

FRAME_SECONDS = 0.1
# Into JFK's "what your country can do for you" (about 5 s to 7 s of the recording; "ask not"
# before it is an utterance of its own, ending at 4.4 s).
SIGTERM_AT_SECONDS = 6.2
GOING_AWAY = 1001


@pytest.fixture
def gateway_to_stop(api_token, asr_service, tmp_path):
    running = start_gateway(api_token, "", tmp_path, GATEWAY_ASR_TARGET=asr_service.target)
    yield running
    running.process.stop()


class Client:
    """One live socket: events as they arrive (with when), and when and how it closed."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[tuple[float, dict]] = []
        self.closed_at: float | None = None
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                message = await self.ws.recv()
                self.events.append((time.monotonic(), json.loads(message)))
        self.closed_at = time.monotonic()

    def after(self, moment: float) -> list[dict]:
        return [event for at, event in self.events if at >= moment]


async def send_paced(ws: ClientConnection, messages: list, sigterm: Callable[[], None]) -> float:
    """Sends one message per FRAME_SECONDS, as a microphone would, and SIGTERMs the gateway
    after SIGTERM_AT_SECONDS of audio; goes on sending until the gateway closes the socket.
    Returns when the signal was sent."""
    began, signalled = time.monotonic(), None
    with contextlib.suppress(ConnectionClosed):
        for index, message in enumerate(messages):
            if signalled is None and index * FRAME_SECONDS >= SIGTERM_AT_SECONDS:
                signalled = time.monotonic()
                sigterm()
            await ws.send(message)
            await asyncio.sleep(max(0.0, began + (index + 1) * FRAME_SECONDS - time.monotonic()))
    assert signalled is not None, "the socket closed before the gateway was told to stop"
    return signalled


async def refused_at(url: str, within: float = 5) -> float:
    """When the gateway's port first refuses a connection (polled every 50 ms)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection(host, int(port))
        except ConnectionRefusedError:
            return time.monotonic()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} still accepted connections {within} s after SIGTERM")


def exited_on_sigterm(gateway) -> bool:
    # uvicorn re-raises the signal it shut down on, once it is done: -SIGTERM is a clean end.
    return gateway.process.process.wait(40) in (0, -signal.SIGTERM)


class Terminator:
    """SIGTERMs the gateway, and from that moment watches for its port to refuse."""

    def __init__(self, gateway) -> None:
        self.gateway = gateway
        self.refusal: asyncio.Task | None = None

    def __call__(self) -> None:
        self.gateway.process.process.send_signal(signal.SIGTERM)
        self.refusal = asyncio.create_task(refused_at(self.gateway.url))


async def test_native_stream_gets_its_last_final_then_1001(gateway_to_stop, api_token):
    samples, rate = read_pcm16(sample_path("jfk"))
    pcm = samples.tobytes()
    size = int(rate * FRAME_SECONDS) * 2
    frames = [pcm[offset : offset + size] for offset in range(0, len(pcm), size)]
    url = gateway_to_stop.url.replace("http://", "ws://", 1) + "/api/v1/asr/stream"
    headers = {"Authorization": f"Bearer {api_token}"}
    async with connect(url, additional_headers=headers) as ws:
        start = {"language": "en", "sample_rate": rate, "interim_results": False}
        await ws.send(json.dumps({"event": "start", "config": start}))
        assert json.loads(await ws.recv())["event"] == "ready"
        client = Client(ws)
        terminate = Terminator(gateway_to_stop)
        signalled = await send_paced(ws, frames, terminate)
        await asyncio.wait_for(client.reader, 30)
        refused = await terminate.refusal
        close_code = ws.close_code

    after = client.after(signalled)
    finals = [e for e in after if e["event"] == "batch_processed" and e["is_final"]]
    assert finals and finals[-1]["text"], client.events
    assert finals[-1]["end"] <= SIGTERM_AT_SECONDS + 1, finals
    assert not [e for e in after if e["event"] == "error"], after
    summary = after[-1]
    assert summary["event"] == "final_summary", after
    # The audio ended where the gateway was told to stop, not at the recording's end.
    assert SIGTERM_AT_SECONDS <= summary["audio_seconds"] < SIGTERM_AT_SECONDS + 1, summary
    assert close_code == GOING_AWAY
    # New connections were refused while the stream was still finishing.
    assert signalled < refused < client.closed_at
    assert exited_on_sigterm(gateway_to_stop)


async def test_realtime_session_gets_its_last_transcript_then_1001(gateway_to_stop, api_token):
    audio = pcm_at("jfk", 24_000)
    size = int(24_000 * FRAME_SECONDS) * 2
    appends = [
        json.dumps(
            {
                "type": "input_audio_buffer.append",
                "audio": base64.b64encode(audio[offset : offset + size]).decode(),
            }
        )
        for offset in range(0, len(audio), size)
    ]
    url = gateway_to_stop.url.replace("http://", "ws://", 1) + "/v1/realtime?intent=transcription"
    headers = {"Authorization": f"Bearer {api_token}"}
    async with connect(url, additional_headers=headers) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        client = Client(ws)
        signalled = await send_paced(ws, appends, Terminator(gateway_to_stop))
        await asyncio.wait_for(client.reader, 30)
        close_code = ws.close_code

    after = client.after(signalled)
    assert not of(after, "error"), after
    completed = of(after, COMPLETED)
    assert completed and completed[-1]["transcript"], after
    # Every turn the client was told of completed before the close.
    events = [event for _, event in client.events]
    committed = [e["item_id"] for e in of(events, "input_audio_buffer.committed")]
    assert [e["item_id"] for e in of(events, COMPLETED)] == committed
    assert close_code == GOING_AWAY
    assert exited_on_sigterm(gateway_to_stop)
