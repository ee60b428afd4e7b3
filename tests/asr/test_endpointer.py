"""The endpointer alone, on made-up speech probabilities: which events each frame causes, and
the audio they carry. Every frame's samples are its number on the stream, so an event's audio
says which frames it holds. tests/asr/test_endpointing.py drives the whole live stream."""

import numpy as np
import pytest

from paneas.services.asr.endpointer import (
    Endpointer,
    EndReason,
    InterimDue,
    PieceCut,
    SpeculationAbandoned,
    SpeculativeFinalDue,
    UtteranceEnded,
    UtteranceStarted,
)
from paneas.services.asr.vad import FRAME_SAMPLES

SPEECH, SILENCE = 1.0, 0.0
# A decode window: the most frames one decode gets.
WINDOW_FRAMES = 937


def endpointer(
    silence_ms: int = 500, max_utterance_ms: int = 30_000, interim_interval_ms: int | None = None
) -> Endpointer:
    return Endpointer(
        vad_threshold=0.5,
        silence_ms=silence_ms,
        max_utterance_ms=max_utterance_ms,
        interim_interval_ms=interim_interval_ms,
    )


def probabilities(*parts: tuple[float, int]) -> list[float]:
    """(probability, frames) parts, one after the other."""
    return [probability for probability, frames in parts for _ in range(frames)]


def push_all(endpointer: Endpointer, probabilities: list[float]) -> list[tuple[int, object]]:
    """Every event with the number of the frame that caused it."""
    return [
        (number, event)
        for number, probability in enumerate(probabilities)
        for event in endpointer.push(np.full(FRAME_SAMPLES, number, np.float32), probability)
    ]


def frames_of(audio: np.ndarray) -> list[int]:
    return [int(sample) for sample in audio[::FRAME_SAMPLES]]


def span(first: int, last: int) -> list[int]:
    return list(range(first, last + 1))


def test_an_utterance_opens_on_speech_and_ends_after_the_silence():
    events = push_all(
        endpointer(silence_ms=500),  # 16 frames
        probabilities(
            (SILENCE, 10), (SPEECH, 1), (SILENCE, 5), (SPEECH, 20), (SILENCE, 30), (SPEECH, 1)
        ),
    )
    # A click (frame 10) opens nothing; the second speech frame in a row (17) opens the
    # utterance with 10 frames of pre-roll, its speech starting at the first (16).
    assert events[0] == (17, UtteranceStarted(0, 8 * FRAME_SAMPLES, 16 * FRAME_SAMPLES))
    number, ended = events[-1]
    # Speech in frames 16-35: the 16th frame of silence (51) ends it; its audio keeps 6 of them.
    assert number == 51 and isinstance(ended, UtteranceEnded)
    assert ended.reason is EndReason.SILENCE
    assert ended.speech_end_sample == 36 * FRAME_SAMPLES
    assert ended.offset_samples == 0
    assert frames_of(ended.audio) == span(8, 41)
    assert [type(event) for _, event in events] == [
        UtteranceStarted,
        SpeculativeFinalDue,
        UtteranceEnded,
    ]


def test_the_speculative_final_is_due_at_the_first_short_pause_with_the_finals_audio():
    events = push_all(
        endpointer(silence_ms=500),
        probabilities((SILENCE, 10), (SPEECH, 20), (SILENCE, 10), (SPEECH, 10), (SILENCE, 20)),
    )
    kinds = [(number, type(event)) for number, event in events]
    # Speech in frames 10-29 and 40-49: due at the 6th frame of each pause, abandoned when
    # speech goes on, and the second one is the final's decode.
    assert kinds == [
        (11, UtteranceStarted),
        (35, SpeculativeFinalDue),
        (40, SpeculationAbandoned),
        (55, SpeculativeFinalDue),
        (65, UtteranceEnded),
    ]
    speculative, ended = events[3][1], events[4][1]
    assert frames_of(speculative.audio) == frames_of(ended.audio) == span(2, 55)


def test_no_speculative_final_when_the_silence_is_no_longer_than_the_kept_tail():
    events = push_all(endpointer(silence_ms=150), probabilities((SPEECH, 20), (SILENCE, 10)))
    assert [type(event) for _, event in events] == [UtteranceStarted, UtteranceEnded]


def test_the_longest_utterance_is_cut_mid_speech_and_the_next_goes_on_at_once():
    # 1 s at most: 31 frames. Pre-roll from frame 2, speech from frame 10.
    events = push_all(endpointer(max_utterance_ms=1000), probabilities((SILENCE, 10), (SPEECH, 40)))
    assert [(number, type(event)) for number, event in events] == [
        (11, UtteranceStarted),
        (32, UtteranceEnded),
        (32, UtteranceStarted),
    ]
    ended, started = events[1][1], events[2][1]
    assert ended.reason is EndReason.MAX_LENGTH and ended.speech_end_sample is None
    assert frames_of(ended.audio) == span(2, 32)
    # The next utterance starts with the very next frame, without a speech-started offset.
    assert started == UtteranceStarted(1, 33 * FRAME_SAMPLES, None)


def test_the_longest_utterance_reached_in_a_pause_ends_it_without_opening_another():
    # 1 s at most: pre-roll from frame 4, speech in frames 12-31, the limit at frame 34.
    events = push_all(
        endpointer(max_utterance_ms=1000),
        probabilities((SILENCE, 12), (SPEECH, 20), (SILENCE, 40)),
    )
    assert [(number, type(event)) for number, event in events] == [
        (13, UtteranceStarted),
        (34, UtteranceEnded),
    ]
    ended = events[1][1]
    assert ended.reason is EndReason.MAX_LENGTH
    assert ended.speech_end_sample == 32 * FRAME_SAMPLES
    assert frames_of(ended.audio) == span(4, 34)


def test_a_window_of_audio_is_cut_just_after_the_latest_quietest_pause_of_its_second_half():
    # Speech from frame 10 (pre-roll from 2) with three equal pauses; the window fills at
    # frame 938, and its second half starts at frame 470.
    speech = [SPEECH] * 1000
    for pause in (300, 600, 800):
        speech[pause : pause + 3] = [SILENCE] * 3
    events = push_all(
        endpointer(max_utterance_ms=120_000), [SILENCE] * 10 + speech + [SILENCE] * 20
    )
    cuts = [(number, event) for number, event in events if isinstance(event, PieceCut)]
    assert len(cuts) == 1
    number, cut = cuts[0]
    # The pause in frames 810-812 (800-802 of the speech): cut after its middle frame.
    assert number == 938 and cut.offset_samples == 0
    assert frames_of(cut.audio) == span(2, 811)
    ended = events[-1][1]
    assert isinstance(ended, UtteranceEnded) and ended.reason is EndReason.SILENCE
    assert ended.offset_samples == cut.audio.size
    assert frames_of(ended.audio) == span(812, 1015)


def test_a_cut_abandons_the_speculative_final():
    # A pause long enough to speculate (6 frames) just before the window fills.
    parts = probabilities((SILENCE, 10), (SPEECH, 920), (SILENCE, 10), (SPEECH, 20))
    events = push_all(endpointer(silence_ms=2000, max_utterance_ms=120_000), parts)
    kinds = [type(event) for _, event in events]
    assert kinds[1:4] == [SpeculativeFinalDue, SpeculationAbandoned, PieceCut]


def test_stop_ends_the_open_utterance_with_the_partial_frame():
    stopper = endpointer(silence_ms=500)
    push_all(stopper, probabilities((SILENCE, 10), (SPEECH, 20), (SILENCE, 3)))
    partial = np.full(100, -1, np.float32)
    (ended,) = stopper.stop(partial)
    assert ended.reason is EndReason.STOP
    # Nothing is dropped at the end, the partial frame included.
    assert frames_of(ended.audio) == span(2, 32) + [-1]
    assert ended.audio.size == 31 * FRAME_SAMPLES + 100
    assert stopper.stop(np.zeros(0, np.float32)) == []


def test_stop_with_no_utterance_open_has_nothing_to_end():
    stopper = endpointer()
    push_all(stopper, probabilities((SPEECH, 10), (SILENCE, 20)))
    assert stopper.stop(np.zeros(50, np.float32)) == []


@pytest.mark.parametrize("interval_ms", [320, None])
def test_interims_are_due_every_interval_of_new_audio(interval_ms):
    events = push_all(
        endpointer(interim_interval_ms=interval_ms), probabilities((SILENCE, 10), (SPEECH, 25))
    )
    interims = [(number, event) for number, event in events if isinstance(event, InterimDue)]
    if interval_ms is None:
        assert interims == []
        return
    # 320 ms is 10 frames; the first frame after the open already brings 11 (the pre-roll).
    assert [number for number, _ in interims] == [12, 22, 32]
    assert [frames_of(event.audio) for _, event in interims] == [
        span(2, 12),
        span(2, 22),
        span(2, 32),
    ]
    assert all(event.offset_samples == 0 for _, event in interims)
