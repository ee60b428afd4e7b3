"""What the gateway refuses before any ASR service hears a diarization request, on a real
gateway process whose ASR target has nothing listening: a request the gateway accepts is
answered 503 (the asr service is unavailable), one it refuses 400 with the rule, in OpenAI's
error body on /v1/audio/transcriptions (through the official client where it can send the
request) and in grpc-gateway's body on /api/v1/asr. The same options against the real
service are in test_diarization_routes.py."""

import base64

import grpc
import httpx
import openai
import pytest

from paneas.services.processes import free_port
from tests.conftest import start_gateway

pytestmark = pytest.mark.slow

# Not audio the service could decode: nothing here reaches a service.
AUDIO = ("call.wav", b"RIFF....WAVEfmt ")
SAMPLE = "data:audio/wav;base64," + base64.b64encode(b"RIFF....WAVE" * 100).decode()


@pytest.fixture(scope="module")
def bare_gateway(api_token, tmp_path_factory):
    # An ASR target where nothing listens: the routes are there, the service is not.
    running = start_gateway(
        api_token,
        "",
        tmp_path_factory.mktemp("gateway-without-asr"),
        GATEWAY_ASR_TARGET=f"127.0.0.1:{free_port()}",
    )
    yield running
    running.process.stop()


@pytest.fixture(scope="module")
def client(bare_gateway, api_token) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{bare_gateway.url}/v1", api_key=api_token, max_retries=0)


def create(client: openai.OpenAI, **options):
    options.setdefault("model", "gpt-4o-transcribe-diarize")
    return client.audio.transcriptions.create(file=AUDIO, **options)


def refused(client: openai.OpenAI, **options) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as raised:
        create(client, **options)
    assert raised.value.status_code == 400
    assert raised.value.type == "invalid_request_error"
    return raised.value


def accepted(client: openai.OpenAI, **options) -> None:
    """The gateway passed the request on: only the missing service refuses it."""
    with pytest.raises(openai.InternalServerError) as raised:
        create(client, **options)
    assert raised.value.status_code == 503
    assert "asr service is unavailable" in raised.value.message


@pytest.mark.parametrize(
    "options",
    [
        {"response_format": "diarized_json"},
        {"response_format": "diarized_json", "chunking_strategy": "auto"},
        {
            "response_format": "diarized_json",
            # The SDK sends a dict as chunking_strategy[type]=server_vad ... fields.
            "chunking_strategy": {
                "type": "server_vad",
                "prefix_padding_ms": 300,
                "silence_duration_ms": 500,
                "threshold": 0.5,
            },
        },
        {"response_format": "diarized_json", "stream": True},
        {
            "response_format": "diarized_json",
            "known_speaker_names": ["agent", "customer"],
            "known_speaker_references": [SAMPLE, SAMPLE.replace("audio/wav", "audio/ogg")],
        },
        {"response_format": "verbose_json", "extra_body": {"min_speakers": 2, "max_speakers": 3}},
        {"model": "whisper-1", "response_format": "vtt", "extra_body": {"diarize": True}},
        {"model": "whisper-1", "response_format": "diarized_json", "extra_body": {"diarize": True}},
    ],
    ids=[
        "diarized-json",
        "auto",
        "server-vad",
        "stream",
        "known-speakers",
        "bounds",
        "diarize-extra-field",
        "diarized-json-with-diarize",
    ],
)
def test_openais_diarization_options_are_accepted(client, options):
    accepted(client, **options)


def test_chunking_strategy_as_a_json_string_is_accepted_and_anything_else_refused(
    bare_gateway, api_token
):
    def post(value: str) -> httpx.Response:
        return httpx.post(
            f"{bare_gateway.url}/v1/audio/transcriptions",
            headers={"Authorization": f"Bearer {api_token}"},
            files={"file": AUDIO},
            data={"model": "gpt-4o-transcribe-diarize", "chunking_strategy": value},
        )

    assert post('{"type": "server_vad", "threshold": 0.2}').status_code == 503
    for value in ("manual", '{"type": "semantic_vad"}', '{"type": "server_vad",'):
        answer = post(value)
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["param"] == "chunking_strategy" and "server_vad" in error["message"]


def test_diarized_json_needs_the_diarize_model(client):
    error = refused(client, model="whisper-1", response_format="diarized_json")
    assert error.param == "response_format"
    assert "gpt-4o-transcribe-diarize" in error.message and "whisper-1" in error.message


def test_diarized_json_is_not_a_translation_format(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.audio.translations.create(
            file=AUDIO, model="gpt-4o-transcribe-diarize", response_format="diarized_json"
        )
    assert raised.value.param == "response_format"


@pytest.mark.parametrize(
    "options, param, words",
    [
        ({"chunking_strategy": {"type": "semantic_vad"}}, "chunking_strategy", '"auto"'),
        (
            {"chunking_strategy": {"type": "server_vad", "threshold": 3}},
            "chunking_strategy",
            "threshold",
        ),
        (
            {"known_speaker_names": ["agent", "customer"], "known_speaker_references": [SAMPLE]},
            "known_speaker_names",
            "pair up",
        ),
        (
            {"known_speaker_names": list("abcde"), "known_speaker_references": [SAMPLE] * 5},
            "known_speaker_names",
            "at most 4",
        ),
        (
            {
                "known_speaker_names": ["agent"],
                "known_speaker_references": ["data:text/plain;base64,aGVsbG8="],
            },
            "known_speaker_references",
            "must be audio",
        ),
        (
            {"known_speaker_names": ["agent"], "known_speaker_references": ["agent.wav"]},
            "known_speaker_references",
            "data URL",
        ),
        (
            {
                "model": "whisper-1",
                "response_format": "verbose_json",
                "known_speaker_names": ["a"],
                "known_speaker_references": [SAMPLE],
            },
            "known_speaker_names",
            "diarize=true",
        ),
        ({"extra_body": {"min_speakers": 4, "max_speakers": 2}}, "min_speakers", "max_speakers"),
        (
            {"model": "whisper-1", "response_format": "srt", "extra_body": {"max_speakers": 2}},
            "max_speakers",
            "diarize=true",
        ),
        ({"response_format": "srt", "stream": True}, "stream", "diarized_json"),
    ],
    ids=[
        "unknown-chunking-type",
        "threshold-over-1",
        "names-without-references",
        "five-speakers",
        "reference-not-audio",
        "reference-not-a-data-url",
        "known-speakers-without-diarization",
        "min-over-max",
        "bounds-without-diarization",
        "stream-srt",
    ],
)
def test_bad_options_are_400_with_the_rule(client, options, param, words):
    options.setdefault("response_format", "diarized_json")
    error = refused(client, **options)
    assert error.param == param
    assert words in error.message, error.message


def test_rest_asr_refuses_speaker_options_without_diarize_and_unpaired_samples(
    bare_gateway, api_token
):
    def post(data: dict, files: list) -> dict:
        answer = httpx.post(
            f"{bare_gateway.url}/api/v1/asr",
            headers={"Authorization": f"Bearer {api_token}"},
            files=[("file", AUDIO), *files],
            data=data,
        )
        assert answer.status_code == 400, answer.text
        body = answer.json()
        assert body["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        return body

    sample = ("known_speaker_audio", ("agent.wav", b"RIFF"))
    assert "diarize=true" in post({"min_speakers": "2"}, [])["message"]
    assert "diarize=true" in post({"known_speaker_names": "agent"}, [sample])["message"]
    body = post({"diarize": "true", "known_speaker_names": ["agent", "customer"]}, [sample])
    assert "pair up" in body["message"]
    # Paired, the request goes on to the (missing) service.
    answer = httpx.post(
        f"{bare_gateway.url}/api/v1/asr",
        headers={"Authorization": f"Bearer {api_token}"},
        files=[("file", AUDIO), sample],
        data={"diarize": "true", "known_speaker_names": "agent", "max_speakers": "3"},
    )
    assert answer.status_code == 503, answer.text
