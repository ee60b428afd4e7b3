"""ASR over REST: the OpenAI-compatible /v1/audio/* routes through the official `openai`
client, and the multipart /api/v1/asr and /api/v1/align, against the real ASR service."""

import re
import time

import grpc
import httpx
import openai
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paneas.gateway.errors import install_error_handlers
from paneas.services.asr.evaluation import SAMPLES, sample_path, wer

pytestmark = pytest.mark.backends("asr")

JFK = SAMPLES["jfk"].transcript
SRT_TIME = r"\d{2}:\d{2}:\d{2},\d{3}"
VTT_TIME = r"\d{2}:\d{2}:\d{2}\.\d{3}"


@pytest.fixture(scope="module")
def jfk() -> bytes:
    return sample_path("jfk").read_bytes()


@pytest.fixture(scope="module")
def client(gateway, api_token) -> openai.OpenAI:
    # No retries: a refusal must surface as the error the test expects.
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=api_token, max_retries=0)


@pytest.fixture(scope="module")
def headers(api_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token}"}


def transcribe(client: openai.OpenAI, audio: bytes, **options):
    return client.audio.transcriptions.create(file=("jfk.wav", audio), **options)


def audio_seconds_recorded(gateway, headers, route: str) -> float:
    response = httpx.get(
        f"{gateway.url}/api/v1/analytics", headers=headers, params={"group_by": "route"}
    )
    groups = {group["route"]: group for group in response.json()["groups"]}
    return groups[route]["totals"]["audio_seconds"] if route in groups else 0.0


def test_json_through_the_official_client(client, gateway, headers, jfk):
    before = audio_seconds_recorded(gateway, headers, "/v1/audio/transcriptions")
    result = transcribe(client, jfk, model="whisper-1")
    assert isinstance(result, openai.types.audio.Transcription)
    assert wer(JFK, result.text) <= 0.1, result.text
    assert result.usage.type == "duration"
    assert result.usage.seconds == pytest.approx(11.0, abs=0.1)
    # Usage analytics count the audio (written in the background, within a second or so).
    deadline = time.monotonic() + 10
    while audio_seconds_recorded(gateway, headers, "/v1/audio/transcriptions") < before + 10.9:
        assert time.monotonic() < deadline, "audio seconds not recorded"
        time.sleep(0.2)


@pytest.mark.parametrize("response_format", ["text", "srt", "vtt"])
def test_plain_text_formats(client, jfk, response_format):
    text = transcribe(client, jfk, model="whisper-1", response_format=response_format)
    assert isinstance(text, str)
    if response_format == "text":
        assert wer(JFK, text) <= 0.1
        return
    time, cue = (SRT_TIME, r"\d+\n") if response_format == "srt" else (VTT_TIME, "")
    if response_format == "vtt":
        assert text.startswith("WEBVTT\n\n")
    cues = re.findall(rf"{cue}({time}) --> ({time})\n(.+)\n\n", text)
    assert cues, text
    assert wer(JFK, " ".join(line for _, _, line in cues)) <= 0.1
    if response_format == "srt":
        assert [int(n) for n in re.findall(r"^(\d+)$", text, re.M)] == list(range(1, len(cues) + 1))
        assert cues[0][0].startswith("00:00:0")


def test_verbose_json_with_word_and_segment_timestamps(client, jfk):
    result = transcribe(
        client,
        jfk,
        model="gpt-4o-transcribe",  # an alias for the service's default model, too
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
        language="en",
        temperature=0.0,
    )
    assert isinstance(result, openai.types.audio.TranscriptionVerbose)
    body = result.model_dump()
    assert body["task"] == "transcribe"
    assert result.language == "english"
    assert result.duration == pytest.approx(11.0, abs=0.1)
    assert wer(JFK, result.text) <= 0.1
    segment = result.segments[0]
    assert segment.id == 0 and segment.tokens == [] and segment.temperature == 0.0
    assert 0 <= segment.start < segment.end <= result.duration + 0.1
    assert segment.avg_logprob < 0 and 0 <= segment.no_speech_prob <= 1
    assert segment.compression_ratio > 0
    words = result.words
    assert wer(JFK, " ".join(word.word for word in words)) <= 0.1
    starts = [word.start for word in words]
    assert starts == sorted(starts)
    assert all(word.start <= word.end <= result.duration + 0.1 for word in words)


def test_word_granularity_alone_leaves_out_segments(client, jfk):
    result = transcribe(
        client,
        jfk,
        model="whisper-1",
        response_format="verbose_json",
        timestamp_granularities=["word"],
    )
    assert result.segments is None
    assert len(result.words) >= 20


def test_stream_sends_deltas_then_the_whole_text(client, jfk):
    events = list(transcribe(client, jfk, model="whisper-1", stream=True))
    deltas = [event for event in events if event.type == "transcript.text.delta"]
    assert deltas and events[-1].type == "transcript.text.done"
    assert [event.type for event in events[:-1]] == ["transcript.text.delta"] * len(deltas)
    assert "".join(event.delta for event in deltas) == events[-1].text
    assert wer(JFK, events[-1].text) <= 0.1


# The SDK marks translations deprecated (OpenAI's newer models only transcribe); it still works.
@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_translation_to_english(client):
    audio = sample_path("pt_padaria").read_bytes()
    result = client.audio.translations.create(
        model="whisper-1", file=("padaria.wav", audio), response_format="verbose_json"
    )
    assert result.language == "english"
    words = set(re.findall(r"[a-z]+", result.text.lower()))
    assert {"good", "morning"} <= words, result.text
    assert not {"padaria", "bom", "dia"} & words


def test_a_model_the_service_does_not_serve_is_a_404(client, jfk):
    with pytest.raises(openai.NotFoundError) as raised:
        transcribe(client, jfk, model="large-v3-not-here")
    assert raised.value.body["code"] == "model_not_found"
    assert raised.value.body["param"] == "model"


def openai_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize(
    "files, form, param",
    [
        ({}, {"model": "whisper-1"}, "file"),
        ({"file": ("empty.wav", b"")}, {"model": "whisper-1"}, "file"),
        ({"file": ("a.wav", b"RIFF not really")}, {"model": "whisper-1"}, None),
        ({"file": ("a.wav", b"x")}, {}, "model"),
        (
            {"file": ("a.wav", b"x")},
            {"model": "whisper-1", "response_format": "xml"},
            "response_format",
        ),
        (
            {"file": ("a.wav", b"x")},
            {"model": "whisper-1", "timestamp_granularities[]": "word"},
            "timestamp_granularities",
        ),
        (
            {"file": ("a.wav", b"x")},
            {
                "model": "whisper-1",
                "response_format": "verbose_json",
                "timestamp_granularities[]": "char",
            },
            "timestamp_granularities",
        ),
    ],
    ids=[
        "no-file",
        "empty-file",
        "undecodable",
        "no-model",
        "bad-format",
        "words-need-verbose",
        "bad-granularity",
    ],
)
def test_bad_input_is_a_400_with_openais_body(gateway, headers, files, form, param):
    response = httpx.post(
        f"{gateway.url}/v1/audio/transcriptions",
        headers=headers,
        files=files or {"other": ("other.txt", b"multipart without a file field")},
        data=form,
        timeout=60,
    )
    error = openai_error(response, 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_undecodable_audio_raises_bad_request_in_the_client(client):
    with pytest.raises(openai.BadRequestError) as raised:
        transcribe(client, b"\x00\x01not audio at all" * 50, model="whisper-1")
    assert "decode" in raised.value.message


def test_missing_or_wrong_key_is_a_401(gateway):
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = httpx.post(
            f"{gateway.url}/v1/audio/translations",
            headers=headers,
            files={"file": ("a.wav", b"x")},
            data={"model": "whisper-1"},
        )
        error = openai_error(response, 401)
        assert error["code"] == "invalid_api_key"
    bad_key = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        transcribe(bad_key, b"x", model="whisper-1")


def test_body_over_the_limit_is_a_413_with_openais_body(gateway, headers):
    response = httpx.post(
        f"{gateway.url}/v1/audio/transcriptions",
        headers=headers,
        files={"file": ("big.wav", b"\0" * (8 * 1024 * 1024 + 1))},
        data={"model": "whisper-1"},
    )
    assert "GATEWAY_MAX_BODY_BYTES" in openai_error(response, 413)["message"]


def test_unknown_v1_route_is_a_404_with_openais_body(gateway, headers):
    openai_error(httpx.get(f"{gateway.url}/v1/audio/nothing", headers=headers), 404)


def test_multipart_recognize_returns_the_response_message(gateway, headers):
    response = httpx.post(
        f"{gateway.url}/api/v1/asr",
        headers=headers,
        files={"file": ("beckett.wav", sample_path("beckett").read_bytes())},
        data={"language": "en", "word_timestamps": "true", "hotwords": "Beckett, fail"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert wer(SAMPLES["beckett"].transcript, body["text"]) <= 0.2, body["text"]
    assert body["language"] == "en" and body["model"]
    assert body["duration_seconds"] == pytest.approx(9.96, abs=0.05)
    assert body["segments"][0]["words"][0].keys() >= {"word", "start_seconds", "end_seconds"}


def test_multipart_recognize_errors_keep_the_status_body(gateway, headers):
    response = httpx.post(
        f"{gateway.url}/api/v1/asr",
        headers=headers,
        files={"file": ("a.wav", b"not audio")},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0] and body["details"] == []


def test_align_places_every_word(gateway, headers, jfk):
    response = httpx.post(
        f"{gateway.url}/api/v1/align",
        headers=headers,
        files={"file": ("jfk.wav", jfk)},
        data={"transcript": JFK, "language": "en"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    words = body["words"]
    assert [word["index"] for word in words] == list(range(len(JFK.split())))
    assert body["unaligned_words"] == []
    starts = [word["start_seconds"] for word in words]
    assert starts == sorted(starts) and words[-1]["end_seconds"] <= 11.1


@pytest.mark.parametrize(
    "code, status, error_type",
    [
        ("INVALID_ARGUMENT", 400, "invalid_request_error"),
        ("NOT_FOUND", 404, "invalid_request_error"),
        ("UNAUTHENTICATED", 401, "invalid_request_error"),
        ("RESOURCE_EXHAUSTED", 429, "requests"),
        ("UNAVAILABLE", 503, "server_error"),
        ("DEADLINE_EXCEEDED", 504, "server_error"),
        ("INTERNAL", 500, "server_error"),
    ],
)
def test_grpc_errors_on_v1_get_grpc_gateways_status_and_openais_body(code, status, error_type):
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/v1/fail")
    @app.get("/api/v1/fail")
    async def fail() -> None:
        trailing = grpc.aio.Metadata(("retry-after-ms", "2500"))
        raise grpc.aio.AioRpcError(
            grpc.StatusCode[code], grpc.aio.Metadata(), trailing, f"{code} happened"
        )

    client = TestClient(app)
    response = client.get("/v1/fail")
    error = openai_error(response, status)
    assert error["type"] == error_type and error["message"] == f"{code} happened"
    if code == "RESOURCE_EXHAUSTED":
        assert response.headers["Retry-After"] == "3"
    elsewhere = client.get("/api/v1/fail")
    assert elsewhere.status_code == status
    assert elsewhere.json()["code"] == grpc.StatusCode[code].value[0]
