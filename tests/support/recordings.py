"""A call-like recording of real voices (jfk, beckett and PocketSphinx's LibriVox sentences
and card names: four speakers) with pauses of 0.3-3 s, over 60 s: the shape of audio where
batched decoding used to drop sentences, used by the ASR and jobs tests."""

import re

import numpy as np
import pytest

from paneas.services.asr.evaluation import FETCHED_AUDIO, SAMPLES, normalize_words, read_pcm16
from tests.support.audio import encode_audio


def real_sentences() -> list[tuple[str, np.ndarray]]:
    """(transcript, int16 samples at 16 kHz) of every sentence."""
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


def call_recording_flac(seed: int = 7) -> tuple[bytes, list[str], float]:
    """(FLAC bytes, the sentences in their order, seconds): every sentence once, shuffled."""
    audio, sentences, _ = _call_recording(seed)
    return encode_audio(audio, "flac"), sentences, audio.size / 16000


def call_recording_speech(seed: int = 7) -> list[tuple[float, float]]:
    """Where each sentence of `call_recording_flac(seed)` is, in seconds."""
    return _call_recording(seed)[2]


def _call_recording(seed: int) -> tuple[np.ndarray, list[str], list[tuple[float, float]]]:
    rng = np.random.default_rng(seed)
    sentences = real_sentences()
    order = [sentences[i] for i in rng.permutation(len(sentences))]
    pieces, speech, at = [], [], 0
    for _, samples in order:
        pause = np.zeros(int(rng.uniform(0.3, 3.0) * 16000), dtype=np.int16)
        pieces += [samples, pause]
        speech.append((at / 16000, (at + samples.size) / 16000))
        at += samples.size + pause.size
    return np.concatenate(pieces), [text for text, _ in order], speech


# Whisper writes the card names' numbers as digits or as words, depending on the context.
_NUMBERS = dict(enumerate("zero one two three four five six seven eight nine ten".split()))


def _words(text: str) -> list[str]:
    return [_NUMBERS.get(int(w), w) if w.isdigit() else w for w in normalize_words(text)]


def assert_every_sentence_heard(sentences: list[str], text: str) -> None:
    heard = set(_words(text))
    for sentence in sentences:
        words = _words(sentence)
        found = sum(word in heard for word in words)
        # Whisper may spell a word otherwise ("mister" / "mr"), never lose most of a sentence.
        assert found >= len(words) / 2, f"sentence lost: {sentence!r} not in {text!r}"


def assert_words_on_the_speech(
    times: list[tuple[float, float]], speech: list[tuple[float, float]]
) -> None:
    """Each word (start, end) lies on a sentence of the recording (`speech`): files are
    decoded with long pauses shortened (services/asr/batch.py) and their words put back on
    the file's timeline, where one put back on the wrong side of a pause would sit a pause
    (up to 3 s) away from any sentence. Whisper's word times are loose by a few tenths."""
    off = [
        min(max(0.0, start - (a + b) / 2, (a + b) / 2 - end) for start, end in speech)
        for a, b in times
    ]
    assert max(off) <= 1.0, f"a word {max(off):.2f} s away from the speech"
    assert sum(o > 0.3 for o in off) <= len(off) // 50, off
