"""A call-like recording (real voices, pauses of 0.3-3 s, over 60 s) keeps every sentence
through gRPC and REST, with and without word timestamps.

The batched pipeline used to drop whole sentences where Whisper closed a 30 s window early
(services/asr/batch.py); this is the shape of audio where it did.
"""

import httpx
import pytest

from paneas.asr.v1 import asr_pb2
from tests.support.recordings import assert_every_sentence_heard, call_recording_flac

pytestmark = pytest.mark.backends("asr")


@pytest.fixture(scope="module")
def call_recording() -> tuple[bytes, list[str], float]:
    return call_recording_flac()


@pytest.mark.parametrize("words", [False, True], ids=["segments", "words"])
async def test_grpc_keeps_every_sentence(asr, auth_metadata, call_recording, words):
    audio, sentences, seconds = call_recording
    assert seconds >= 60
    config = asr_pb2.RecognitionConfig(language="en", vad_filter=True, word_timestamps=words)
    response = await asr.Recognize(
        asr_pb2.RecognizeRequest(audio=audio, config=config), metadata=auth_metadata, timeout=600
    )
    assert_every_sentence_heard(sentences, response.text)
    starts = [segment.start_seconds for segment in response.segments]
    assert starts == sorted(starts)
    assert 0 <= starts[0] and response.segments[-1].end_seconds <= seconds + 0.5
    if words:
        times = [(w.start_seconds, w.end_seconds) for s in response.segments for w in s.words]
        assert all(a <= b for a, b in times)
        assert [a for a, _ in times] == sorted(a for a, _ in times)


@pytest.mark.parametrize("words", [False, True], ids=["segments", "words"])
def test_rest_keeps_every_sentence(gateway, api_token, call_recording, words):
    audio, sentences, seconds = call_recording
    form = {"model": "whisper-1", "language": "en"}
    if words:
        form |= {"response_format": "verbose_json", "timestamp_granularities[]": "word"}
    response = httpx.post(
        f"{gateway.url}/v1/audio/transcriptions",
        headers={"Authorization": f"Bearer {api_token}"},
        files={"file": ("call.flac", audio, "audio/flac")},
        data=form,
        timeout=600,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert_every_sentence_heard(sentences, body["text"])
    if words:
        times = [word["start"] for word in body["words"]]
        assert times == sorted(times) and times[-1] <= seconds + 0.5
