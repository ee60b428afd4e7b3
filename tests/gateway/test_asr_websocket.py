"""WS /api/v1/asr/stream against the real ASR service: a live stream paced in real time,
the three ways to authenticate, protocol errors, and a client that vanishes mid-stream."""

import asyncio
import contextlib
import json
import re
import time

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from paneas.asr.v1 import asr_pb2
from paneas.gateway.asr.stream import events_of
from paneas.gateway.asr.tickets import TicketBook
from paneas.services.asr.evaluation import SAMPLES, read_pcm16, sample_path, wer

pytestmark = pytest.mark.backends("asr")

JFK = SAMPLES["jfk"].transcript
FRAME_SECONDS = 0.1


@pytest.fixture(scope="module")
def jfk_pcm() -> tuple[bytes, int]:
    samples, rate = read_pcm16(sample_path("jfk"))
    return samples.tobytes(), rate


@pytest.fixture(scope="module")
def url(gateway) -> str:
    return gateway.url.replace("http://", "ws://", 1) + "/api/v1/asr/stream"


@pytest.fixture(scope="module")
def bearer(api_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token}"}


def start(**config: object) -> str:
    return json.dumps({"event": "start", "config": {"language": "en", **config}})


STOP = json.dumps({"event": "stop"})


async def events_until_closed(ws: ClientConnection, within: float = 60) -> list[dict]:
    events = []
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(within):
            while True:
                events.append(json.loads(await ws.recv()))
    return events


def frames(pcm: bytes, rate: int, seconds: float = FRAME_SECONDS) -> list[bytes]:
    size = int(rate * seconds) * 2
    return [pcm[offset : offset + size] for offset in range(0, len(pcm), size)]


def metric(url: str, name: str) -> float:
    text = httpx.get(url, timeout=5).text
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in {url}"
    return float(match.group(1))


async def until_metric(url: str, name: str, value: float, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while (current := metric(url, name)) != value:
        assert time.monotonic() < deadline, f"{name} stayed at {current}, expected {value}"
        await asyncio.sleep(0.1)


async def test_live_stream_paced_in_real_time(gateway, url, bearer, jfk_pcm):
    pcm, rate = jfk_pcm
    timed: list[tuple[float, dict]] = []
    async with connect(url, additional_headers=bearer) as ws:
        await ws.send(start(sample_rate=rate, interim_results=True, word_timestamps=True))
        ready = json.loads(await ws.recv())
        assert ready["event"] == "ready" and ready["session_id"]

        async def collect() -> None:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    timed.append((time.monotonic(), json.loads(await ws.recv())))

        collector = asyncio.create_task(collect())
        began = time.monotonic()
        for index, frame in enumerate(frames(pcm, rate)):
            await ws.send(frame)
            await asyncio.sleep(max(0.0, began + (index + 1) * FRAME_SECONDS - time.monotonic()))
        audio_sent = time.monotonic()
        await ws.send(STOP)
        await asyncio.wait_for(collector, 60)
        assert ws.close_code == 1000

    events = [event for _, event in timed]
    kinds = {event["event"] for event in events}
    assert {"speech_started", "speech_ended", "batch_processed"} <= kinds
    assert "error" not in kinds
    results = [event for event in events if event["event"] == "batch_processed"]
    finals = [event for event in results if event["is_final"]]
    assert any(not event["is_final"] for event in results), "no interim results"
    # Live, not batch at the end: results arrived while audio was still being sent.
    assert any(at < audio_sent for at, event in timed if event["event"] == "batch_processed")
    assert [event["utterance_index"] for event in finals] == list(range(len(finals)))
    assert wer(JFK, " ".join(event["text"] for event in finals)) <= 0.25
    for event in finals:
        assert event["stability"] == 1.0
        assert event["duration"] == pytest.approx(event["end"] - event["start"], abs=0.002)
        assert event["words"] and set(event["words"][0]) == {"word", "start", "end", "confidence"}
        assert all(w["start"] <= w["end"] <= event["end"] + 0.1 for w in event["words"])
    summary = events[-1]
    assert summary["event"] == "final_summary"
    assert wer(JFK, summary["transcript"]) <= 0.25
    assert summary["audio_seconds"] == pytest.approx(11.0, abs=0.1)
    assert summary["utterances"] == len(finals)

    # One analytics row per stream, as one per HTTP request: the audio and the text it carried.
    deadline = time.monotonic() + 10
    while True:
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"{gateway.url}/api/v1/analytics", headers=bearer, params={"group_by": "route"}
            )
        groups = {group["route"]: group for group in response.json()["groups"]}
        stream = groups.get("/api/v1/asr/stream")
        if stream and stream["totals"]["audio_seconds"] >= 11.0 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert stream is not None, groups
    assert stream["totals"]["audio_seconds"] >= 11.0 and stream["totals"]["characters"] > 0
    assert summary["words"] == len(summary["transcript"].split())


async def test_insights_arrive_during_the_stream_and_summarise_it(url, bearer, jfk_pcm):
    """With enable_insights the service asks the suite's real LLM; its insights come as
    events while the stream is live, and its summary closes it."""
    pcm, rate = jfk_pcm
    events: list[dict] = []
    got_insight = asyncio.Event()
    began_wall = time.time()
    async with connect(url, additional_headers=bearer) as ws:
        await ws.send(start(sample_rate=rate, enable_insights=True))

        async def collect() -> None:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    events.append(json.loads(await ws.recv()))
                    if events[-1]["event"] == "insight" and events[-1]["type"] == "summary":
                        got_insight.set()

        collector = asyncio.create_task(collect())
        began = time.monotonic()
        for index, frame in enumerate(frames(pcm, rate)):
            await ws.send(frame)
            await asyncio.sleep(max(0.0, began + (index + 1) * FRAME_SECONDS - time.monotonic()))
        # The LLM shares the CPU with Whisper: the stream stays open until it has spoken.
        await asyncio.wait_for(got_insight.wait(), 90)
        await ws.send(STOP)
        await asyncio.wait_for(collector, 90)
        assert ws.close_code == 1000

    insight = next(event for event in events if event["event"] == "insight")
    assert insight["type"] == "summary" and insight["text"].strip() and insight["model"]
    assert began_wall <= insight["generated_at"] <= time.time()
    summary = events[-1]
    assert summary["event"] == "final_summary", events
    assert wer(JFK, summary["transcript"]) <= 0.25
    assert summary["summary"].strip()


async def short_session(ws: ClientConnection, session_id: str | None = None) -> list[dict]:
    """Start and stop without audio: enough to prove the session works end to end."""
    await ws.send(start(**({"session_id": session_id} if session_id else {})))
    await ws.send(STOP)
    events = await events_until_closed(ws)
    assert [event["event"] for event in events] == ["ready", "final_summary"], events
    assert ws.close_code == 1000
    return events


async def test_subprotocol_carries_the_token_and_only_the_protocol_is_echoed(url, api_token):
    async with connect(url, subprotocols=["paneas.asr.v1", f"bearer.{api_token}"]) as ws:
        assert ws.subprotocol == "paneas.asr.v1"
        events = await short_session(ws, session_id="call-42")
    assert events[0]["session_id"] == "call-42"
    assert events[1]["utterances"] == 0 and events[1]["transcript"] == ""


async def test_ticket_works_once(gateway, url, bearer):
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{gateway.url}/api/v1/asr/stream/tickets", headers=bearer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_in"] == 60 and body["ticket"]
    async with connect(f"{url}?ticket={body['ticket']}") as ws:
        await short_session(ws)
    with pytest.raises(InvalidStatus) as reused:
        async with connect(f"{url}?ticket={body['ticket']}"):
            pass
    assert reused.value.response.status_code == 401


@pytest.mark.parametrize(
    "query, options",
    [
        ("", {}),
        ("", {"additional_headers": {"Authorization": "Bearer wrong"}}),
        ("", {"subprotocols": ["paneas.asr.v1", "bearer.wrong"]}),
        ("?ticket=forged.ticket", {}),
        ("?token={token}", {}),
    ],
    ids=["none", "wrong-header", "wrong-subprotocol", "forged-ticket", "token-in-url"],
)
async def test_unauthenticated_is_refused_before_the_upgrade(url, api_token, query, options):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url + query.format(token=api_token), **options):
            pass
    response = refused.value.response
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert json.loads(response.body)["code"] == 16  # UNAUTHENTICATED


def test_tickets_expire_are_single_use_and_cannot_be_forged():
    now = [1000.0]
    book = TicketBook(b"k" * 32, 60, clock=lambda: now[0])
    ticket, expires_in = book.issue("token-a")
    assert expires_in == 60
    assert book.redeem(ticket, ["token-b", "token-a"]) == ("token-a", None)
    assert book.redeem(ticket, ["token-a"]) is None  # used
    late, _ = book.issue("token-a")
    now[0] += 61
    assert book.redeem(late, ["token-a"]) is None  # expired
    fresh, _ = book.issue("token-a")
    assert TicketBook(b"x" * 32, 60, clock=lambda: now[0]).redeem(fresh, ["token-a"]) is None
    body, _, signature = fresh.partition(".")
    assert book.redeem(f"{body}x.{signature}", ["token-a"]) is None
    assert book.redeem(fresh, ["token-rotated"]) is None  # its token is no longer accepted
    # A Realtime client secret's session comes back with its token, as signed.
    configured, _ = book.issue("token-a", session={"type": "transcription"})
    assert book.redeem(configured, ["token-a"]) == ("token-a", {"type": "transcription"})


@pytest.mark.parametrize(
    "messages, close_code, fragment",
    [
        ([b"\x00\x01" * 800], 1003, "start"),
        (["{not json"], 1007, "JSON"),
        ([start(sample_rate=1000)], 1007, "sample_rate"),
        ([start(sample_rat=16000)], 1007, "sample_rat"),
        ([start(), "{not json"], 1007, "JSON"),
        ([start(), start()], 1007, "already started"),
    ],
    ids=["audio-first", "bad-json", "bad-rate", "unknown-field", "bad-json-later", "two-starts"],
)
async def test_protocol_errors_end_with_an_error_event(url, bearer, messages, close_code, fragment):
    async with connect(url, additional_headers=bearer) as ws:
        for message in messages:
            await ws.send(message)
        events = await events_until_closed(ws)
    assert events[-1]["event"] == "error", events
    assert events[-1]["code"] == "INVALID_ARGUMENT"
    assert fragment in events[-1]["message"]
    assert ws.close_code == close_code


async def test_vanishing_client_frees_the_service_slot(gateway, asr_service, url, bearer, jfk_pcm):
    pcm, rate = jfk_pcm
    gateway_metrics = f"{gateway.url}/metrics"
    await until_metric(asr_service.metrics_url, "paneas_asr_active_streams", 0)
    ws = await connect(url, additional_headers=bearer)
    await ws.send(start(sample_rate=rate))
    assert json.loads(await ws.recv())["event"] == "ready"
    for frame in frames(pcm[: rate * 2 * 3], rate):  # 3 s, faster than real time
        await ws.send(frame)
    await until_metric(asr_service.metrics_url, "paneas_asr_active_streams", 1)
    assert metric(gateway_metrics, "paneas_gateway_asr_streams_active") == 1
    ws.transport.abort()  # gone without a closing handshake
    await until_metric(asr_service.metrics_url, "paneas_asr_active_streams", 0, within=5)
    await until_metric(gateway_metrics, "paneas_gateway_asr_streams_active", 0, within=5)


async def test_a_full_service_is_try_again_later(asr_service, url, bearer):
    metrics_url = asr_service.metrics_url
    await until_metric(metrics_url, "paneas_asr_active_streams", 0)
    admitted: list[ClientConnection] = []
    refusal = None
    try:
        while refusal is None and len(admitted) < 32:
            ws = await connect(url, additional_headers=bearer)
            await ws.send(start())
            assert json.loads(await ws.recv())["event"] == "ready"
            # Admitted (the service counts it) or refused (the gateway says why).
            deadline = time.monotonic() + 10
            while metric(metrics_url, "paneas_asr_active_streams") <= len(admitted):
                with contextlib.suppress(TimeoutError):
                    refusal = json.loads(await asyncio.wait_for(ws.recv(), 0.2))
                    break
                assert time.monotonic() < deadline, "stream neither admitted nor refused"
            if refusal is None:
                admitted.append(ws)
        assert refusal is not None, "the service never refused a stream"
        assert refusal["event"] == "error" and refusal["code"] == "RESOURCE_EXHAUSTED"
        assert refusal["retry_after"] >= 1
        await events_until_closed(ws, within=10)
        assert ws.close_code == 1013
    finally:
        for ws in admitted:  # ended properly, each with its summary
            await ws.send(STOP)
            await events_until_closed(ws, within=30)
    assert all(ws.close_code == 1000 for ws in admitted)
    await until_metric(metrics_url, "paneas_asr_active_streams", 0, within=10)


async def test_prompt_over_the_token_window_is_an_error_not_silence(url, bearer, jfk_pcm):
    """A 300-word prompt and 300 hotwords once left the stream silent forever after stop."""
    pcm, rate = jfk_pcm
    async with connect(url, additional_headers=bearer) as ws:
        await ws.send(
            start(sample_rate=rate, initial_prompt="alpha " * 300, hotwords=["beta"] * 300)
        )
        with contextlib.suppress(ConnectionClosed):  # the refusal may close it mid-send
            for frame in frames(pcm, rate):
                await ws.send(frame)
            await ws.send(STOP)
        events = await events_until_closed(ws, within=30)
    error = events[-1]
    assert error["event"] == "error" and error["code"] == "INVALID_ARGUMENT", events
    assert "the limit is 223 tokens" in error["message"]
    assert ws.close_code == 1007


def test_a_failed_utterance_is_an_error_event_that_does_not_end_the_stream():
    response = asr_pb2.StreamingRecognizeResponse(
        results=[
            asr_pb2.StreamingRecognitionResult(
                is_final=True,
                utterance_index=3,
                start_seconds=4.5,
                end_seconds=6.25,
                error="this utterance could not be transcribed (...); the stream goes on",
            )
        ]
    )
    (event,) = events_of(response)
    assert event == {
        "event": "error",
        "code": "INTERNAL",
        "message": "this utterance could not be transcribed (...); the stream goes on",
        "utterance_index": 3,
        "start": 4.5,
        "end": 6.25,
    }
