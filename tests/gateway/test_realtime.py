"""WS /v1/realtime?intent=transcription (OpenAI's Realtime API, transcription mode) against the
real ASR service, driven by the official `openai` SDK's realtime client where it can be: server
VAD and manual commits on real recorded speech, G.711 input, the browser's subprotocols with an
ephemeral client secret (single use), bad input, and a client that vanishes mid-utterance."""

import asyncio
import base64
import contextlib
import json
import math
import time
import warnings

import av
import numpy as np
import pytest
from openai import AsyncOpenAI
from starlette.websockets import WebSocketState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from paneas.gateway.openai.realtime.audio import A_LAW, MU_LAW, InputConverter
from paneas.gateway.openai.realtime.serving import Item, RealtimeSession
from paneas.services.asr.evaluation import SAMPLES, read_pcm16, sample_path, wer
from tests.gateway.test_asr_websocket import metric, until_metric

pytestmark = pytest.mark.backends("asr")

COMPLETED = "conversation.item.input_audio_transcription.completed"
DELTA = "conversation.item.input_audio_transcription.delta"
CHUNK_SECONDS = 0.1


def pcm_at(name: str, rate: int) -> bytes:
    """A recording as 16-bit mono PCM at `rate`."""
    samples, source_rate = read_pcm16(sample_path(name))
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = source_rate
    frames = [*resampler.resample(frame), *resampler.resample(None)]
    return b"".join(f.to_ndarray().tobytes() for f in frames)


def g711(pcm8k: bytes, table: np.ndarray) -> bytes:
    """PCM16 encoded to G.711: each sample the code whose expansion is nearest."""
    order = np.argsort(table)
    levels = table[order].astype(np.int32)
    samples = np.frombuffer(pcm8k, dtype="<i2").astype(np.int32)
    above = np.clip(np.searchsorted(levels, samples), 1, 255)
    nearer_below = (samples - levels[above - 1]) <= (levels[above] - samples)
    return order[np.where(nearer_below, above - 1, above)].astype(np.uint8).tobytes()


def chunks(audio: bytes, bytes_per_second: int) -> list[str]:
    size = int(bytes_per_second * CHUNK_SECONDS)
    return [
        base64.b64encode(audio[offset : offset + size]).decode()
        for offset in range(0, len(audio), size)
    ]


@pytest.fixture(scope="module")
def client(gateway, api_token) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=api_token)


@pytest.fixture(scope="module")
def url(gateway) -> str:
    return gateway.url.replace("http://", "ws://", 1) + "/v1/realtime?intent=transcription"


def transcription_session(**audio_input: object) -> dict:
    return {"type": "transcription", "audio": {"input": audio_input}}


async def events_until(connection, done, within: float = 120) -> list[dict]:
    """Server events (as dicts) until `done(events)` holds."""
    events: list[dict] = []
    async with asyncio.timeout(within):
        while not done(events):
            event = await connection.recv()
            events.append(event.model_dump(exclude_unset=True))
    return events


def of(events: list[dict], kind: str) -> list[dict]:
    return [event for event in events if event["type"] == kind]


def assert_items_complete(events: list[dict]) -> list[str]:
    """Every committed item completed once, in commit order, its deltas concatenating to its
    transcript; the transcripts in order."""
    committed = of(events, "input_audio_buffer.committed")
    completed = of(events, COMPLETED)
    assert [event["item_id"] for event in completed] == [e["item_id"] for e in committed]
    previous = None
    for event in committed:
        assert event.get("previous_item_id") == previous
        previous = event["item_id"]
    for event in completed:
        deltas = [e["delta"] for e in of(events, DELTA) if e["item_id"] == event["item_id"]]
        assert "".join(deltas) == event["transcript"]
        assert event["content_index"] == 0
        assert event["usage"]["type"] == "duration" and event["usage"]["seconds"] > 0
    done = of(events, "conversation.item.done")
    assert [event["item"]["id"] for event in done] == [e["item_id"] for e in completed]
    return [event["transcript"] for event in completed]


async def test_server_vad_session_one_completed_per_utterance(client):
    audio = pcm_at("jfk", 24_000) + bytes(2 * 24_000 * 2)  # 2 s of silence ends the last turn
    async with client.realtime.connect(
        model="whisper-1", extra_query={"intent": "transcription"}
    ) as connection:
        created = await connection.recv()
        assert created.type == "session.created"
        await connection.session.update(
            session=transcription_session(
                format={"type": "audio/pcm", "rate": 24000},
                transcription={"model": "whisper-1", "language": "en"},
                turn_detection={"type": "server_vad", "silence_duration_ms": 500},
                noise_reduction={"type": "near_field"},
            )
        )
        updated = await connection.recv()
        assert updated.type == "session.updated"
        assert updated.session.audio.input.turn_detection.silence_duration_ms == 500
        for chunk in chunks(audio, 24_000 * 2):
            await connection.input_audio_buffer.append(audio=chunk)

        def all_turns_done(events: list[dict]) -> bool:
            # The VAD has heard the end of the recording (JFK stops speaking after 10 s) and
            # every turn it opened is done.
            started = len(of(events, "input_audio_buffer.speech_started"))
            ends = [e["audio_end_ms"] for e in of(events, "input_audio_buffer.speech_stopped")]
            heard_the_end = bool(ends) and max(ends) >= 9_000
            return heard_the_end and len(of(events, "conversation.item.done")) == started

        events = await events_until(connection, all_turns_done)
        # Nothing further once every turn is done (the silence closed the last one).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(3):
                events.append((await connection.recv()).model_dump(exclude_unset=True))
    assert not of(events, "error"), events
    started = of(events, "input_audio_buffer.speech_started")
    stopped = of(events, "input_audio_buffer.speech_stopped")
    assert [e["item_id"] for e in started] == [e["item_id"] for e in stopped]
    for start, stop in zip(started, stopped, strict=True):
        assert 0 <= start["audio_start_ms"] < stop["audio_end_ms"] <= 13_100
    transcripts = assert_items_complete(events)
    assert len(transcripts) == len(started)
    assert wer(SAMPLES["jfk"].transcript, " ".join(transcripts)) <= 0.25
    # Not asked for (`include`), not sent.
    assert all("logprobs" not in event for event in of(events, COMPLETED))


async def test_logprobs_when_included_one_per_word(client):
    async with client.realtime.connect(
        model="whisper-1", extra_query={"intent": "transcription"}
    ) as connection:
        await connection.session.update(
            session={
                **transcription_session(
                    format={"type": "audio/pcm", "rate": 24000},
                    transcription={"model": "whisper-1", "language": "en"},
                    turn_detection=None,
                ),
                "include": ["item.input_audio_transcription.logprobs"],
            }
        )
        for chunk in chunks(pcm_at("jfk", 24_000), 48_000):
            await connection.input_audio_buffer.append(audio=chunk)
        await connection.input_audio_buffer.commit()
        events = await events_until(
            connection, lambda events: bool(of(events, "conversation.item.done"))
        )
    assert not of(events, "error"), events
    [completed] = of(events, COMPLETED)
    [delta] = of(events, DELTA)
    logprobs = completed["logprobs"]
    assert delta["logprobs"] == logprobs
    # One entry per word of the transcript, each a log probability with its UTF-8 bytes.
    assert [entry["token"].strip() for entry in logprobs] == completed["transcript"].split()
    for entry in logprobs:
        assert -30 < entry["logprob"] <= 0
        assert bytes(entry["bytes"]).decode() == entry["token"]
    # A clear recording: most words are sure.
    assert sorted(math.exp(e["logprob"]) for e in logprobs)[len(logprobs) // 2] > 0.5


@pytest.mark.parametrize("audio_format", ["audio/pcm", "audio/pcmu", "audio/pcma"])
async def test_manual_commits_transcribe_each_buffer_in_order(client, audio_format):
    """Two buffers, each committed by the client; G.711 arrives at 8 kHz."""
    if audio_format == "audio/pcm":
        first, second = pcm_at("beckett", 24_000), pcm_at("jfk", 24_000)
        rate_bytes = 48_000
    else:
        table = MU_LAW if audio_format == "audio/pcmu" else A_LAW
        first, second = g711(pcm_at("beckett", 8000), table), g711(pcm_at("jfk", 8000), table)
        rate_bytes = 8000
    async with client.realtime.connect(
        model="whisper-1", extra_query={"intent": "transcription"}
    ) as connection:
        await connection.session.update(
            session=transcription_session(
                format={"type": audio_format},
                transcription={"model": "whisper-1", "language": "en"},
                turn_detection=None,
            )
        )
        for audio in (first, second):
            for chunk in chunks(audio, rate_bytes):
                await connection.input_audio_buffer.append(audio=chunk)
            await connection.input_audio_buffer.commit()
        events = await events_until(
            connection, lambda events: len(of(events, "conversation.item.done")) == 2
        )
    assert not of(events, "error"), events
    assert not of(events, "input_audio_buffer.speech_started")  # no VAD events without VAD
    updated = of(events, "session.updated")[0]
    assert updated["session"]["audio"]["input"]["turn_detection"] is None
    assert updated["session"]["audio"]["input"]["format"]["type"] == audio_format
    beckett, jfk = assert_items_complete(events)
    assert wer(SAMPLES["beckett"].transcript, beckett) <= 0.3
    assert wer(SAMPLES["jfk"].transcript, jfk) <= 0.3


async def test_browser_subprotocols_and_a_client_secret_that_works_once(
    client, gateway, url, api_token
):
    secret = await client.realtime.client_secrets.create(
        expires_after={"anchor": "created_at", "seconds": 30},
        session=transcription_session(format={"type": "audio/pcmu"}),
    )
    assert secret.value.startswith("ek_")
    assert time.time() < secret.expires_at <= time.time() + 31
    assert secret.session.type == "transcription"

    async with connect(
        url, subprotocols=["realtime", f"openai-insecure-api-key.{secret.value}"]
    ) as ws:
        assert ws.subprotocol == "realtime"
        created = json.loads(await ws.recv())
        assert created["type"] == "session.created"
        # The session starts as the secret was minted: G.711 mu-law, not the 24 kHz default.
        assert created["session"]["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    with pytest.raises(InvalidStatus) as reused:
        async with connect(
            url, subprotocols=["realtime", f"openai-insecure-api-key.{secret.value}"]
        ):
            pass
    assert reused.value.response.status_code == 401
    error = json.loads(reused.value.response.body)["error"]
    assert "already used" in error["message"] and error["code"] == "invalid_api_key"

    # The API key itself works as the browser subprotocol too (server-side clients).
    async with connect(
        url, subprotocols=["realtime", f"openai-insecure-api-key.{api_token}"]
    ) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"additional_headers": {"Authorization": "Bearer wrong"}},
        {"subprotocols": ["realtime", "openai-insecure-api-key.wrong"]},
    ],
    ids=["none", "wrong-key", "wrong-subprotocol-key"],
)
async def test_unauthenticated_is_refused_before_the_upgrade(url, options):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, **options):
            pass
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["error"]["type"] == "invalid_request_error"


async def send(ws: ClientConnection, **event: object) -> None:
    await ws.send(json.dumps(event))


async def next_event(ws: ClientConnection, within: float = 10) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), within))


async def test_bad_input_gets_error_events_and_the_session_goes_on(url, api_token):
    bearer = {"Authorization": f"Bearer {api_token}"}
    silence = base64.b64encode(bytes(4800)).decode()  # 100 ms at 24 kHz
    async with connect(url, additional_headers=bearer, max_size=None) as ws:
        assert (await next_event(ws))["type"] == "session.created"

        async def refused(fragment: str, code: str, **event: object) -> dict:
            await send(ws, event_id="evt_client_1", **event)
            error = await next_event(ws)
            assert error["type"] == "error", error
            assert error["error"]["code"] == code, error
            assert fragment in error["error"]["message"], error
            assert error["error"]["event_id"] == "evt_client_1"
            return error

        await refused(
            'unknown event type "input_audio_buffer.apend"',
            "invalid_event_type",
            type="input_audio_buffer.apend",
            audio=silence,
        )
        await refused(
            "not valid base64",
            "invalid_base64",
            type="input_audio_buffer.append",
            audio="not base64!",
        )
        await refused(
            "the limit is 524288 bytes",
            "audio_append_too_large",
            type="input_audio_buffer.append",
            audio=base64.b64encode(bytes(600_000)).decode(),
        )
        await refused(
            "24000 Hz only",
            "invalid_value",
            type="session.update",
            session=transcription_session(format={"type": "audio/pcm", "rate": 16000}),
        )
        await refused(
            'unsupported audio format "audio/opus"',
            "invalid_value",
            type="session.update",
            session=transcription_session(format={"type": "audio/opus"}),
        )
        await refused(
            "set session.type", "invalid_value", type="session.update", session={"type": "realtime"}
        )
        await refused(
            "at least 100 ms", "input_audio_buffer_commit_empty", type="input_audio_buffer.commit"
        )
        await refused(
            "not available in a transcription session", "unsupported_event", type="response.create"
        )

        # The session went on: audio is taken, and its format can no longer change.
        await send(ws, type="input_audio_buffer.append", audio=silence)
        await refused(
            "cannot change once audio was appended",
            "invalid_value",
            type="session.update",
            session=transcription_session(format={"type": "audio/pcmu"}),
        )
        await send(ws, type="input_audio_buffer.clear")
        assert (await next_event(ws))["type"] == "input_audio_buffer.cleared"
        await send(
            ws,
            type="session.update",
            session=transcription_session(transcription={"language": "en"}),
        )
        updated = await next_event(ws)
        assert updated["type"] == "session.updated"
        assert updated["session"]["audio"]["input"]["transcription"]["language"] == "en"
        assert updated["session"]["audio"]["input"]["format"] == {
            "type": "audio/pcm",
            "rate": 24000,
        }


async def test_a_configuration_the_service_refuses_ends_the_session_with_its_reason(url, api_token):
    """A prompt over Whisper's token budget is refused by the service when the call opens."""
    async with connect(url, additional_headers={"Authorization": f"Bearer {api_token}"}) as ws:
        assert (await next_event(ws))["type"] == "session.created"
        await send(
            ws,
            type="session.update",
            session=transcription_session(transcription={"prompt": "alpha " * 300}),
        )
        assert (await next_event(ws))["type"] == "session.updated"
        with contextlib.suppress(ConnectionClosed):  # the refusal may close it mid-send
            await send(
                ws, type="input_audio_buffer.append", audio=base64.b64encode(bytes(48_000)).decode()
            )
        error = await next_event(ws, within=30)
        assert error["type"] == "error", error
        assert error["error"]["type"] == "invalid_request_error"
        assert "the limit is 223 tokens" in error["error"]["message"]
        assert "open a new session" in error["error"]["message"]
        with pytest.raises(ConnectionClosed):
            await next_event(ws)
    assert ws.close_code == 1007


async def test_vanishing_client_frees_the_service_slot(gateway, asr_service, url, api_token):
    gateway_metrics = f"{gateway.url}/metrics"
    await until_metric(asr_service.metrics_url, "paneas_asr_active_streams", 0)
    ws = await connect(url, additional_headers={"Authorization": f"Bearer {api_token}"})
    assert (await next_event(ws))["type"] == "session.created"
    for chunk in chunks(pcm_at("jfk", 24_000)[: 3 * 48_000], 48_000):  # 3 s, mid-utterance
        await send(ws, type="input_audio_buffer.append", audio=chunk)
    await until_metric(asr_service.metrics_url, "paneas_asr_active_streams", 1)
    assert metric(gateway_metrics, "paneas_gateway_asr_streams_active") == 1
    ws.transport.abort()  # gone without a closing handshake
    await until_metric(asr_service.metrics_url, "paneas_asr_active_streams", 0, within=5)
    await until_metric(gateway_metrics, "paneas_gateway_asr_streams_active", 0, within=5)
    with contextlib.suppress(ConnectionClosed):
        await ws.close()


def test_g711_tables_match_the_standard_expansion():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop  # Python < 3.13: the reference the tables must agree with

    codes = bytes(range(256))
    assert np.array_equal(np.frombuffer(audioop.ulaw2lin(codes, 2), "<i2"), MU_LAW)
    assert np.array_equal(np.frombuffer(audioop.alaw2lin(codes, 2), "<i2"), A_LAW)


def test_resampling_keeps_state_across_appends():
    """Odd-sized appends give the same 16 kHz audio as one append: no seams, no lost bytes."""
    audio = pcm_at("beckett", 24_000)
    whole = InputConverter("audio/pcm")
    expected = whole.convert(audio) + whole.flush()
    pieces = InputConverter("audio/pcm")
    got = b"".join(pieces.convert(audio[i : i + 4801]) for i in range(0, len(audio), 4801))
    got += pieces.flush()
    assert len(got) == len(expected)
    assert np.abs(np.frombuffer(got, "<i2").astype(int) - np.frombuffer(expected, "<i2")).max() <= 2


class _RecordingSocket:
    """Stands in for the WebSocket: keeps what the session sends."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))


def session_without_service(socket, idle_seconds: float = 60) -> RealtimeSession:
    """A session on a stand-in socket with no ASR stub: what it sends needs no service."""
    return RealtimeSession(
        socket,
        None,
        (),
        model_aliases=(),
        buffer_bytes=1 << 20,
        idle_seconds=idle_seconds,
        drain_seconds=10,
        max_append_bytes=1 << 19,
    )


async def test_completions_go_out_in_commit_order_whatever_order_they_finish_in():
    socket = _RecordingSocket()
    session = session_without_service(socket)
    first, second = Item("item_first"), Item("item_second")
    await session.commit_item(first)
    await session.commit_item(second)
    await session.complete_item(second, "second words", 1.0)
    assert not of(socket.sent, COMPLETED)  # held until the first is done
    await session.complete_item(first, "first words", 2.0)
    completed = of(socket.sent, COMPLETED)
    assert [event["item_id"] for event in completed] == ["item_first", "item_second"]
    assert [event["transcript"] for event in completed] == ["first words", "second words"]
    committed = of(socket.sent, "input_audio_buffer.committed")
    assert [event["previous_item_id"] for event in committed] == [None, "item_first"]
    done = of(socket.sent, "conversation.item.done")
    assert done[1]["previous_item_id"] == "item_first"
    assert done[1]["item"]["content"] == [{"type": "input_audio", "transcript": "second words"}]


async def test_a_failed_utterance_is_a_failed_event_in_its_place():
    socket = _RecordingSocket()
    session = session_without_service(socket)
    failed, after = Item("item_failed"), Item("item_after")
    await session.commit_item(failed)
    await session.commit_item(after)
    await session.complete_item(after, "after words", 1.0)
    await session.complete_item(failed, None, 1.0, failure="decoding this utterance failed")
    [failure] = of(socket.sent, "conversation.item.input_audio_transcription.failed")
    assert failure["item_id"] == "item_failed"
    assert failure["error"]["code"] == "transcription_failed"
    assert failure["error"]["message"] == "decoding this utterance failed"
    # The session goes on: the next item completes after it, in commit order.
    kinds = [
        event["type"]
        for event in socket.sent
        if event["type"].startswith("conversation.item.input_audio_transcription")
    ]
    assert kinds == [
        "conversation.item.input_audio_transcription.failed",
        "conversation.item.input_audio_transcription.delta",
        COMPLETED,
    ]


class _SilentSocket(_RecordingSocket):
    """A client that connects and then sends nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.application_state = WebSocketState.CONNECTED
        self.closed_with: int | None = None

    async def receive(self) -> dict:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def close(self, code: int) -> None:
        self.closed_with = code
        self.application_state = WebSocketState.DISCONNECTED


async def test_an_idle_client_is_told_why_and_closed():
    socket = _SilentSocket()
    session = session_without_service(socket, idle_seconds=0.2)
    async with asyncio.timeout(10):
        await session.run()
    [error] = of(socket.sent, "error")
    assert error["error"]["code"] == "session_idle_timeout"
    assert "GATEWAY_ASR_STREAM_IDLE_SECONDS" in error["error"]["message"]
    assert socket.closed_with == 1008
