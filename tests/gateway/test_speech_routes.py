"""Text to speech over REST: POST /v1/audio/speech through the official `openai` client (raw
HTTP where the wire itself is the point) and the stack's POST /api/v1/tts, against the real
TTS service. Every answer is decoded with PyAV (FFmpeg) and measured."""

import base64
import io
import json
import time

import av
import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import start_gateway

SHORT = "The quick brown fox jumps over the lazy dog."
# Several sentences: the service streams one chunk (or more) per sentence.
SENTENCES = (
    "Paneas turns text into speech. "
    "Each sentence is synthesised on its own. "
    "The first one can play while the others are still being made. "
    "That is what streaming is for. "
    "A long answer starts sounding at once. "
    "And the last sentence ends the stream."
)
MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
# PyAV demuxer of each format (opus comes in Ogg, aac in ADTS).
DEMUXERS = {"mp3": "mp3", "opus": "ogg", "aac": "aac", "flac": "flac", "wav": "wav"}
OPENAI_PCM_RATE = 24000


@pytest.fixture(scope="module")
def speech_gateway(api_token, tts_service, tmp_path_factory):
    """A gateway of its own in front of the suite's real TTS service."""
    running = start_gateway(
        api_token,
        "",
        tmp_path_factory.mktemp("speech"),
        GATEWAY_OCR_TARGET="",
        GATEWAY_TTS_TARGET=tts_service.target,
        RATE_LIMIT_TTS="1000000",
        RATE_LIMIT_GLOBAL="1000000",
    )
    yield running
    running.process.stop()


@pytest.fixture(scope="module")
def client(speech_gateway, api_token) -> openai.OpenAI:
    # No retries: a refusal must surface as the error the test expects.
    return openai.OpenAI(
        base_url=f"{speech_gateway.url}/v1", api_key=api_token, max_retries=0, timeout=120
    )


@pytest.fixture(scope="module")
def headers(api_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token}"}


@pytest.fixture(scope="module")
def voices(speech_gateway, headers) -> list[dict]:
    """The service's voices, as the transcoded GET /api/v1/tts/voices lists them."""
    response = httpx.get(f"{speech_gateway.url}/api/v1/tts/voices", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    listed = response.json()["voices"]
    assert listed, "the TTS service lists no voices"
    return listed


def voice_named(voices: list[dict], name: str) -> dict:
    [voice] = [voice for voice in voices if voice["name"] == name]
    return voice


def duration(audio: bytes, fmt: str) -> float:
    """Seconds of audio in `audio`, decoded to the last sample (pcm: OpenAI's 24 kHz s16le)."""
    if fmt == "pcm":
        assert len(audio) % 2 == 0, "PCM of 16-bit samples has an even length"
        return len(audio) / 2 / OPENAI_PCM_RATE
    samples, rate = 0, 0
    with av.open(io.BytesIO(audio), format=DEMUXERS[fmt]) as container:
        for frame in container.decode(audio=0):
            samples += frame.samples
            rate = frame.sample_rate
    assert rate, f"no audio frames in the {fmt} answer"
    return samples / rate


def reference_seconds(speech_gateway, headers, text: str, voice: str) -> float:
    """What the service says the same text lasts in the same voice (POST /api/v1/tts)."""
    response = httpx.post(
        f"{speech_gateway.url}/api/v1/tts",
        headers=headers,
        json={"text": text, "voice": voice, "format": "wav"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return float(response.headers["x-audio-duration"])


def openai_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


@pytest.mark.parametrize("fmt", list(MEDIA_TYPES))
def test_every_response_format_decodes_with_its_content_type(client, fmt):
    raw = client.audio.speech.with_raw_response.create(
        model="tts-1", voice="alloy", input=SHORT, response_format=fmt
    )
    assert raw.status_code == 200
    assert raw.headers["content-type"] == MEDIA_TYPES[fmt]
    if fmt == "pcm":
        assert raw.headers["x-sample-rate"] == str(OPENAI_PCM_RATE)
    audio = raw.parse().content
    # Nine words take a second or two to say in any voice.
    assert 1.0 < duration(audio, fmt) < 8.0


def test_the_default_format_is_mp3(client):
    audio = client.audio.speech.create(model="tts-1", voice="alloy", input=SHORT).content
    assert 1.0 < duration(audio, "mp3") < 8.0


def test_streamed_audio_starts_before_the_synthesis_ends(client, speech_gateway, headers, voices):
    started = time.monotonic()
    chunks: list[tuple[float, bytes]] = []
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=SENTENCES, response_format="mp3"
    ) as response:
        assert response.headers["content-type"] == "audio/mpeg"
        assert response.headers["transfer-encoding"] == "chunked"
        voice = response.headers["x-paneas-voice"]
        for chunk in response.iter_bytes():
            chunks.append((time.monotonic() - started, chunk))
    ended = time.monotonic() - started
    first_at = chunks[0][0]
    # The first sentence leaves while the other five are still being synthesised.
    assert len(chunks) > 1
    assert first_at < ended * 0.6, (first_at, ended)
    audio = b"".join(chunk for _, chunk in chunks)
    expected = reference_seconds(speech_gateway, headers, SENTENCES, voice)
    # The same text in the same voice: Piper draws its phoneme durations with noise, so
    # two syntheses differ a little, never by much.
    assert duration(audio, "mp3") == pytest.approx(expected, rel=0.15)


def test_sse_stream_is_openais_events_and_its_audio_decodes(speech_gateway, headers):
    body = {
        "model": "tts-1",
        "voice": "alloy",
        "input": SENTENCES,
        "response_format": "wav",
        "stream_format": "sse",
    }
    with httpx.stream(
        "POST", f"{speech_gateway.url}/v1/audio/speech", headers=headers, json=body, timeout=120
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("data:")]
    events = [json.loads(line[len("data:") :]) for line in lines]
    *deltas, done = events
    assert len(deltas) > 1
    assert {event["type"] for event in deltas} == {"speech.audio.delta"}
    assert all(set(event) == {"type", "audio"} for event in deltas)
    assert done["type"] == "speech.audio.done" and set(done) == {"type", "usage"}
    audio = b"".join(base64.b64decode(event["audio"]) for event in deltas)
    seconds = duration(audio, "wav")
    assert seconds > 5
    usage = done["usage"]
    assert set(usage) == {"input_tokens", "output_tokens", "total_tokens"}
    assert usage["input_tokens"] == len(SENTENCES)
    # output_tokens: the audio's 20 ms frames.
    assert usage["output_tokens"] == pytest.approx(seconds * 50, abs=3)
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_the_openai_client_reads_sse_as_bytes(client):
    """The SDK hands SSE back undecoded; its events are still OpenAI's."""
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=SHORT, stream_format="sse"
    ) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data:")]
    assert json.loads(lines[-1][5:])["type"] == "speech.audio.done"
    audio = b"".join(base64.b64decode(json.loads(line[5:])["audio"]) for line in lines[:-1])
    assert 1.0 < duration(audio, "mp3") < 8.0


def test_models_choose_the_engine_of_openai_voices(client, voices):
    """tts-1 speaks OpenAI voices with Piper (fast), tts-1-hd and gpt-4o-mini-tts with the
    voice the service aliases (Kokoro's); the same name gives the same voice every time."""
    engines = {voice["engine"] for voice in voices}
    [alloy] = [voice for voice in voices if "alloy" in voice.get("aliases", [])]

    def speaker(model: str) -> dict:
        raw = client.audio.speech.with_raw_response.create(
            model=model, voice="alloy", input="Hello.", response_format="wav"
        )
        assert duration(raw.parse().content, "wav") > 0.2
        return voice_named(voices, raw.headers["x-paneas-voice"])

    fast = speaker("tts-1")
    assert fast["engine"] == ("piper" if "piper" in engines else alloy["engine"])
    assert speaker("tts-1") == fast
    if alloy["engine"] == "kokoro":
        assert speaker("tts-1-hd") == speaker("gpt-4o-mini-tts") == alloy


def test_native_names_engines_and_the_voice_object(client, voices):
    native = voices[0]
    for model, voice in (
        ("tts-1", native["name"]),
        (native["engine"], native["name"]),
        ("tts-1", {"id": native["name"]}),
    ):
        raw = client.audio.speech.with_raw_response.create(
            model=model, voice=voice, input="Hello.", response_format="wav"
        )
        assert raw.headers["x-paneas-voice"] == native["name"]
        assert duration(raw.parse().content, "wav") > 0.2


def test_speed_changes_the_duration(client):
    def seconds(speed: float) -> float:
        audio = client.audio.speech.create(
            model="tts-1", voice="alloy", input=SHORT, response_format="wav", speed=speed
        ).content
        return duration(audio, "wav")

    normal, fast, slow = seconds(1.0), seconds(2.0), seconds(0.5)
    # Pauses do not scale the way phonemes do: the speed reaches the engine, not an exact
    # ratio.
    assert fast < normal * 0.8 and slow > normal * 1.3


def test_an_unknown_voice_is_404_listing_the_voices(client, voices):
    with pytest.raises(openai.NotFoundError) as raised:
        client.audio.speech.create(model="tts-1", voice="no-such-voice", input=SHORT)
    error = raised.value.body
    assert error["param"] == "voice" and error["code"] == "voice_not_found"
    assert "no-such-voice" in error["message"]
    for voice in voices:
        assert voice["name"] in error["message"]
        for alias in voice.get("aliases", []):
            assert alias in error["message"]


def test_an_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as raised:
        client.audio.speech.create(model="no-such-model", voice="alloy", input=SHORT)
    assert raised.value.body["code"] == "model_not_found"
    assert "tts-1" in raised.value.message


@pytest.mark.parametrize("text", ["", "   \n "], ids=["empty", "blank"])
def test_empty_input_is_400(client, text):
    with pytest.raises(openai.BadRequestError) as raised:
        client.audio.speech.create(model="tts-1", voice="alloy", input=text)
    assert raised.value.body["param"] == "input"


def test_input_over_the_service_limit_is_400(client):
    started = time.monotonic()
    with pytest.raises(openai.BadRequestError) as raised:
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hello there. " * 10000)
    assert raised.value.body["param"] == "input"
    assert raised.value.body["type"] == "invalid_request_error"
    # Refused, not synthesised first.
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("speed", [0.1, 4.5])
def test_speed_out_of_range_is_400(client, speed):
    with pytest.raises(openai.BadRequestError) as raised:
        client.audio.speech.create(model="tts-1", voice="alloy", input=SHORT, speed=speed)
    assert raised.value.body["param"] == "speed"


def test_an_unknown_response_format_is_400(speech_gateway, headers):
    response = httpx.post(
        f"{speech_gateway.url}/v1/audio/speech",
        headers=headers,
        json={"model": "tts-1", "voice": "alloy", "input": SHORT, "response_format": "ogg"},
    )
    assert openai_error(response, 400)["param"] == "response_format"


def test_unauthenticated_is_401(speech_gateway):
    wrong = openai.OpenAI(base_url=f"{speech_gateway.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        wrong.audio.speech.create(model="tts-1", voice="alloy", input=SHORT)
    assert raised.value.body["code"] == "invalid_api_key"
    missing = httpx.post(
        f"{speech_gateway.url}/v1/audio/speech",
        json={"model": "tts-1", "voice": "alloy", "input": SHORT},
    )
    assert openai_error(missing, 401)["code"] == "invalid_api_key"
    assert missing.headers["www-authenticate"] == "Bearer"


def tts_metric(tts_service, name: str, **labels: str) -> float:
    text = httpx.get(tts_service.metrics_url).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


@pytest.mark.parametrize("stream_format", ["audio", "sse"])
def test_a_client_that_leaves_cancels_the_synthesis(
    speech_gateway, headers, tts_service, stream_format
):
    method = "StreamSynthesize"
    cancelled = {"grpc_method": method, "grpc_code": "CANCELLED"}
    before = tts_metric(tts_service, "grpc_server_handled_total", **cancelled)
    body = {
        "model": "tts-1",
        "voice": "alloy",
        "input": SENTENCES * 6,
        "response_format": "pcm",
        "stream_format": stream_format,
    }
    with httpx.stream(
        "POST", f"{speech_gateway.url}/v1/audio/speech", headers=headers, json=body, timeout=120
    ) as response:
        assert response.status_code == 200, response.read()
        next(response.iter_raw())
    # Thirty-six sentences take far longer than this to synthesise.
    deadline = time.monotonic() + 5
    while tts_metric(tts_service, "grpc_server_in_flight", grpc_method=method):
        assert time.monotonic() < deadline, "still synthesising after the client left"
        time.sleep(0.1)
    assert tts_metric(tts_service, "grpc_server_handled_total", **cancelled) == before + 1


@pytest.mark.parametrize("path", ["/api/v1/tts", "/api/v1/tts:synthesize"])
def test_a_client_that_leaves_cancels_a_unary_synthesis(speech_gateway, headers, tts_service, path):
    """Unary Synthesize answers only when all the audio is made: a client that gives up
    before then cancels the call, hand-written route and transcoded one alike, so the
    service stops at the next sentence instead of speaking thirty-six for nobody."""
    method = "Synthesize"
    cancelled = {"grpc_method": method, "grpc_code": "CANCELLED"}
    before = tts_metric(tts_service, "grpc_server_handled_total", **cancelled)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{speech_gateway.url}{path}",
            headers=headers,
            json={"text": SENTENCES * 6, "voice": "alloy"},
            timeout=1.5,
        )
    deadline = time.monotonic() + 5
    while tts_metric(tts_service, "grpc_server_in_flight", grpc_method=method):
        assert time.monotonic() < deadline, "still synthesising after the client left"
        time.sleep(0.1)
    assert tts_metric(tts_service, "grpc_server_handled_total", **cancelled) == before + 1


@pytest.mark.parametrize("stream_format", ["audio", "sse"])
def test_a_failure_mid_stream_ends_the_stream_as_a_failure(speech_gateway, headers, stream_format):
    """A deadline that passes after the first sentence: raw audio breaks off without its
    last chunk (never a body that looks whole); SSE ends with OpenAI's error event."""
    body = {
        "model": "tts-1",
        "voice": "alloy",
        # A word first, out in a moment; the rest takes Piper several times the deadline.
        "input": "Hi. " + SENTENCES * 6,
        "response_format": "pcm",
        "stream_format": stream_format,
    }
    received = b""
    with httpx.stream(
        "POST",
        f"{speech_gateway.url}/v1/audio/speech",
        headers={**headers, "Grpc-Timeout": "3S"},
        json=body,
        timeout=60,
    ) as response:
        assert response.status_code == 200
        if stream_format == "audio":
            with pytest.raises(httpx.RemoteProtocolError):
                for chunk in response.iter_raw():
                    received += chunk
            assert received, "the failure came before the first chunk"
            return
        lines = [line for line in response.iter_lines() if line.startswith("data:")]
    *deltas, last = [json.loads(line[len("data:") :]) for line in lines]
    assert deltas and {event["type"] for event in deltas} == {"speech.audio.delta"}
    assert set(last) == {"error"}
    assert last["error"]["type"] == "server_error"
    assert "deadline" in last["error"]["message"].lower()


def test_api_tts_returns_the_audio_with_its_headers(speech_gateway, headers, voices):
    native = voices[0]["name"]
    response = httpx.post(
        f"{speech_gateway.url}/api/v1/tts",
        headers=headers,
        json={"text": SHORT, "voice": native, "format": "flac", "sample_rate_hertz": 16000},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/flac"
    assert response.headers["x-paneas-voice"] == native
    assert response.headers["x-sample-rate"] == "16000"
    with av.open(io.BytesIO(response.content), format="flac") as container:
        assert container.streams.audio[0].sample_rate == 16000
    assert duration(response.content, "flac") == pytest.approx(
        float(response.headers["x-audio-duration"]), abs=0.05
    )


def test_api_tts_errors_are_google_rpc_status(speech_gateway, headers, voices):
    url = f"{speech_gateway.url}/api/v1/tts"
    unknown = httpx.post(url, headers=headers, json={"text": SHORT, "voice": "no-such-voice"})
    assert unknown.status_code == 404, unknown.text
    body = unknown.json()
    assert set(body) == {"code", "message", "details"} and body["code"] == 5
    assert all(voice["name"] in body["message"] for voice in voices)
    empty = httpx.post(url, headers=headers, json={"text": ""})
    assert empty.status_code == 400 and empty.json()["code"] == 3
    slow = httpx.post(url, headers=headers, json={"text": SHORT, "speed": 9})
    assert slow.status_code == 400 and "speed" in slow.json()["message"]
    anonymous = httpx.post(url, json={"text": SHORT})
    assert anonymous.status_code == 401 and anonymous.json()["code"] == 16


def test_usage_is_recorded(client, speech_gateway, headers):
    client.audio.speech.create(model="tts-1", voice="alloy", input=SHORT, response_format="wav")
    deadline = time.monotonic() + 10
    while True:
        groups = httpx.get(
            f"{speech_gateway.url}/api/v1/analytics",
            headers=headers,
            params={"group_by": "route"},
        ).json()["groups"]
        [speech] = [group for group in groups if group["route"] == "/v1/audio/speech"] or [None]
        if speech and speech["totals"]["characters"] >= len(SHORT):
            break
        assert time.monotonic() < deadline, f"speech usage not recorded: {groups}"
        time.sleep(0.2)
    assert speech["totals"]["audio_seconds"] > 1.0


def test_openapi_describes_both_routes(speech_gateway):
    spec = httpx.get(f"{speech_gateway.url}/openapi.json").json()
    schemas = spec["components"]["schemas"]

    def request_schema(path: str) -> dict:
        body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        return schemas[body["schema"]["$ref"].rsplit("/", 1)[-1]]

    speech = request_schema("/v1/audio/speech")
    assert set(speech["required"]) == {"model", "input", "voice"}
    assert speech["properties"]["response_format"]["enum"] == list(MEDIA_TYPES)
    assert speech["properties"]["stream_format"]["enum"] == ["audio", "sse"]
    assert speech["properties"]["speed"]["minimum"] == 0.25
    assert speech["properties"]["speed"]["maximum"] == 4.0
    audio = spec["paths"]["/v1/audio/speech"]["post"]["responses"]["200"]["content"]
    assert set(MEDIA_TYPES.values()) | {"text/event-stream"} <= set(audio)
    tts = request_schema("/api/v1/tts")
    assert tts["required"] == ["text"]
    assert {"voice", "language", "format", "speed", "sample_rate_hertz"} <= set(tts["properties"])
