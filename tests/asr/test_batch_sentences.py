"""A call-like recording (real voices, pauses of 0.3-3 s, over 60 s) keeps every sentence
through gRPC and REST, with and without word timestamps.

The batched pipeline used to drop whole sentences where Whisper closed a 30 s window early
(services/asr/batch.py); this is the shape of audio where it did.
"""

import re

import httpx
import numpy as np
import pytest

from paneas.asr.v1 import asr_pb2
from paneas.services.asr.evaluation import FETCHED_AUDIO, SAMPLES, normalize_words, read_pcm16
from tests.support.audio import encode_audio

pytestmark = pytest.mark.backends("asr")


def real_sentences() -> list[tuple[str, np.ndarray]]:
    """jfk, beckett and PocketSphinx's LibriVox sentences and card names (four voices)."""
    sentences = [
        (SAMPLES[n].transcript, read_pcm16(SAMPLES[n].path)[0]) for n in ("jfk", "beckett")
    ]
    for listing, stem in (
        ("librivox-transcription", "librivox-"),
        ("cards-cards.transcription", "cards-"),
    ):
        path = FETCHED_AUDIO / f"pocketsphinx-{listing}"
        if not path.is_file():
            pytest.fail(f"{path} is missing: run scripts/assets/fetch-test-audio.sh")
        for words, ident in re.findall(r"<s>\s*(.*?)\s*</s>\s*\((.+?)\)", path.read_text()):
            sentences.append(
                (words, read_pcm16(FETCHED_AUDIO / f"pocketsphinx-{stem}{ident}.wav")[0])
            )
    return sentences


@pytest.fixture(scope="module")
def call_recording() -> tuple[bytes, list[str], float]:
    rng = np.random.default_rng(7)
    sentences = real_sentences()
    order = [sentences[i] for i in rng.permutation(len(sentences))]
    pieces = []
    for _, samples in order:
        pieces += [samples, np.zeros(int(rng.uniform(0.3, 3.0) * 16000), dtype=np.int16)]
    audio = np.concatenate(pieces)
    return encode_audio(audio, "flac"), [text for text, _ in order], audio.size / 16000


def assert_every_sentence_heard(sentences: list[str], text: str) -> None:
    heard = set(normalize_words(text))
    for sentence in sentences:
        words = normalize_words(sentence)
        found = sum(word in heard for word in words)
        # Whisper may spell a word otherwise ("mister" / "mr"), never lose most of a sentence.
        assert found >= len(words) / 2, f"sentence lost: {sentence!r} not in {text!r}"


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
