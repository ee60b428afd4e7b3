"""A live final decoded after the speech before it keeps only its own words
(services/asr/engine.py `_after`), on its own timeline."""

import pytest
from faster_whisper.transcribe import Segment, Word

from paneas.services.asr.engine import _after


def segment(*words: tuple[str, float, float]) -> Segment:
    return Segment(
        id=0,
        seek=0,
        start=words[0][1],
        end=words[-1][2],
        text="".join(w for w, _, _ in words),
        tokens=[1, 2, 3],
        avg_logprob=-0.2,
        compression_ratio=1.1,
        no_speech_prob=0.01,
        temperature=0.0,
        words=[Word(start=s, end=e, word=w, probability=0.9) for w, s, e in words],
    )


# "Fail again." is the context (ends at 1.1 s), a 0.3 s gap, then "Fail better." at 1.4 s.
DECODED = [
    segment((" Fail", 0.10, 0.50), (" again.", 0.50, 1.10)),
    segment((" Fail", 1.45, 1.80), (" better.", 1.80, 2.30)),
]


def test_only_the_words_after_the_context_are_kept_on_the_utterances_timeline():
    (kept,) = _after(DECODED, boundary=1.4, keep_words=True)
    assert kept.text == " Fail better."
    assert (kept.start, kept.end) == pytest.approx((0.05, 0.9))
    assert [w.word for w in kept.words] == [" Fail", " better."]
    times = [t for w in kept.words for t in (w.start, w.end)]
    assert times == pytest.approx([0.05, 0.4, 0.4, 0.9])


def test_a_segment_across_the_boundary_is_cut_at_the_word_whose_middle_passes_it():
    across = [segment((" Fail", 0.1, 0.5), (" again,", 0.5, 1.1), (" fail", 1.35, 1.8))]
    (kept,) = _after(across, boundary=1.4, keep_words=False)
    assert kept.text == " fail" and kept.words is None


def test_nothing_after_the_context_is_no_segment():
    assert _after(DECODED[:1], boundary=1.4, keep_words=True) == []
