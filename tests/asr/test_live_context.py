"""A short live final decoded after the utterance before it (engine.py `transcribe_utterance`
with a `SpokenContext`): the previous audio in front, its text as the decode's prefix, and
only what follows the prefix kept, on the utterance's own timeline."""

import numpy as np
import pytest
from faster_whisper.transcribe import Segment, Word

from paneas.services.asr.engine import (
    DecodeOptions,
    SpokenContext,
    WhisperEngine,
    after_prefix,
)
from paneas.services.asr.evaluation import sample_path, wer
from paneas.services.asr.settings import AsrSettings
from tests.support.audio import load_float32_16k

SAMPLE_RATE = 16_000


def segment(words: list[Word]) -> Segment:
    return Segment(
        id=0,
        seek=0,
        start=words[0].start,
        end=words[-1].end,
        text="".join(w.word for w in words),
        tokens=[1, 2, 3],
        avg_logprob=-0.2,
        compression_ratio=1.2,
        no_speech_prob=0.01,
        words=words,
        temperature=0.0,
    )


def word(text: str, start: float, end: float) -> Word:
    return Word(start=start, end=end, word=text, probability=0.9)


def test_the_prefix_words_are_dropped_even_when_punctuated_differently():
    decoded = [
        segment([word(" And", 0.0, 0.2), word(" so", 0.2, 0.4), word(" Americans,", 0.4, 1.4)]),
        segment([word(" ask", 2.1, 2.5), word(" not.", 2.5, 2.9)]),
    ]
    kept = after_prefix(decoded, "And so Americans", boundary=2.0, keep_words=True)
    assert [s.text for s in kept] == [" ask not."]
    assert [(w.word, w.start, w.end) for w in kept[0].words] == [
        (" ask", pytest.approx(0.1), pytest.approx(0.5)),
        (" not.", pytest.approx(0.5), pytest.approx(0.9)),
    ]
    assert kept[0].start == pytest.approx(0.1) and kept[0].end == pytest.approx(0.9)


def test_words_in_the_prefix_segment_after_it_are_kept_and_start_no_earlier_than_zero():
    decoded = [segment([word(" Fail", 0.0, 0.4), word(" again.", 0.4, 0.9), word(" Fail", 0.9, 1.3),
                        word(" better.", 1.3, 1.7)])]  # fmt: skip
    kept = after_prefix(decoded, "Fail again.", boundary=1.0, keep_words=False)
    assert [s.text for s in kept] == [" Fail better."]
    assert kept[0].words is None
    assert kept[0].start == 0.0 and kept[0].end == pytest.approx(0.7)


@pytest.mark.parametrize(
    "prefix",
    ["Ever tried.", "Fail again. Fail better.", "Fail again, too"],
    ids=["the decode did not start with the prefix", "nothing after it", "it ran past the end"],
)
def test_a_decode_that_did_not_follow_the_prefix_gives_nothing(prefix: str):
    decoded = [segment([word(" Fail", 0.0, 0.4), word(" again.", 0.4, 0.9), word(" Fail", 0.9, 1.3),
                        word(" better.", 1.3, 1.7)])]  # fmt: skip
    assert after_prefix(decoded, prefix, boundary=1.0, keep_words=True) == []


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    engine = WhisperEngine(AsrSettings())
    engine.load()
    return engine


def phrases(engine: WhisperEngine, name: str) -> list[np.ndarray]:
    """The clip cut at its pauses (over 0.25 s between words), as a stream's VAD cuts it:
    0.2 s before each phrase, 0.3 s after."""
    audio = load_float32_16k(sample_path(name))
    transcript = engine.transcribe_file(
        audio, DecodeOptions(language="en", vad_filter=False, word_timestamps=True)
    )
    words = [w for s in transcript.segments for w in s.words]
    spans = [[words[0].start, words[0].end]]
    for before, after in zip(words, words[1:], strict=False):
        if after.start - before.end > 0.25:
            spans.append([after.start, after.end])
        spans[-1][1] = after.end
    return [
        audio[int(max(0, a - 0.2) * SAMPLE_RATE) : int((b + 0.3) * SAMPLE_RATE)] for a, b in spans
    ]


@pytest.mark.slow  # loads Whisper
def test_short_phrases_decoded_after_the_one_before_are_heard_as_a_file_hears_them(engine):
    """Beckett's six short phrases ("Ever tried. Ever failed. No matter. ..."): each after
    the one before, with that one's words as the prefix, keeps exactly its own words, and
    its word times lie in its own audio."""
    cut = phrases(engine, "beckett")
    assert len(cut) == 6, "the clip's phrases are cut at its pauses"
    spoken = [
        "Ever tried.",
        "Ever failed.",
        "No matter.",
        "Try again.",
        "Fail again.",
        "Fail better.",
    ]
    options = DecodeOptions(language="en", word_timestamps=True, beam_size=5)
    heard = []
    for before, text_before, audio in zip(cut, spoken, cut[1:], strict=False):
        segments, _ = engine.transcribe_utterance(
            audio, options, interim=False, context=SpokenContext(before, text_before)
        )
        heard.append(" ".join(s.text.strip() for s in segments))
        for w in (w for s in segments for w in s.words):
            assert 0.0 <= w.start <= w.end <= audio.size / SAMPLE_RATE + 0.1, (heard[-1], w)
    assert wer(" ".join(spoken[1:]), " ".join(heard)) <= 0.1, heard
