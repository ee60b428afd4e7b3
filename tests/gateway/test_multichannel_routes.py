"""Multichannel recordings over REST against the real ASR service: the OpenAI route (through
the official client, `multichannel` as an extra form field) and the multipart /api/v1/asr."""

import httpx
import openai
import pytest

from paneas.services.asr.evaluation import SAMPLES, wer
from tests.support.audio import call_recording

pytestmark = pytest.mark.backends("asr")

JFK, BECKETT = SAMPLES["jfk"].transcript, SAMPLES["beckett"].transcript


@pytest.fixture(scope="module")
def call() -> bytes:
    # Kennedy on the left starts while Beckett, on the right, is between two sentences.
    return call_recording([("jfk", 3.0), ("beckett", 0.0)])


def assert_two_parties(segments: list[dict]) -> None:
    def text(channel: int) -> str:
        return " ".join(segment["text"] for segment in segments if segment["channel"] == channel)

    assert {segment["channel"] for segment in segments} == {0, 1}
    assert wer(JFK, text(0)) <= 0.1, text(0)
    assert wer(BECKETT, text(1)) <= 0.2, text(1)
    starts = [segment["start"] for segment in segments]
    assert starts == sorted(starts)
    assert segments[0]["channel"] == 1


def test_openai_verbose_json_segments_carry_their_channel(gateway, api_token, call):
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=api_token, max_retries=0)
    result = client.audio.transcriptions.create(
        file=("call.wav", call),
        model="whisper-1",
        language="en",
        response_format="verbose_json",
        timestamp_granularities=["segment", "word"],
        extra_body={"multichannel": True},
    )
    segments = [segment.model_dump() for segment in result.segments]
    assert_two_parties(segments)
    words = result.model_dump()["words"]
    assert {word["channel"] for word in words} == {0, 1}

    # Without it, the parties are mixed into one channel and nothing carries `channel`.
    mixed = client.audio.transcriptions.create(
        file=("call.wav", call), model="whisper-1", language="en", response_format="verbose_json"
    )
    assert not any("channel" in segment.model_dump() for segment in mixed.segments)


def test_native_multipart_route(gateway, api_token, call):
    answer = httpx.post(
        f"{gateway.url}/api/v1/asr",
        headers={"Authorization": f"Bearer {api_token}"},
        files={"file": ("call.wav", call)},
        data={"language": "en", "vad_filter": "true", "multichannel": "true"},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    segments = [
        {"channel": s["channel"], "text": s["text"], "start": s["start_seconds"]}
        for s in answer.json()["segments"]
    ]
    assert_two_parties(segments)
