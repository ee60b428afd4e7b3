"""Endpointing of a live stream: where its utterances start and end, from the VAD's speech
probability of each 32 ms frame.

Pure and synchronous: no decoder, no clock, no tasks, no model. The live stream
(`streaming.py`) runs the VAD, pushes each frame and its probability here, and turns the
events each push returns into decode work.

An utterance opens on two speech frames in a row, with up to 10 frames of pre-roll so the
first syllable is not clipped, and ends after `silence_ms` of silence, its final audio keeping
6 frames of tail. At the first short pause (those 6 frames) the final's audio is already
known, so a speculative final is due; speech going on abandons it. An utterance reaching
`max_utterance_ms` mid-speech is cut and the next one opens with the very next frame; one
reaching it in a pause simply ends there. Audio since the last cut that fills a decode window
(30 s) is cut into a piece at the quietest moment of the window's second half.
"""

import enum
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from paneas.services.asr.audio import SAMPLE_RATE
from paneas.services.asr.engine import WINDOW_SECONDS
from paneas.services.asr.vad import FRAME_SAMPLES

_FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
# Audio kept from before the VAD fires, so the first syllable is not clipped.
_PREROLL_FRAMES = 10
# Consecutive speech frames needed to open an utterance (filters clicks).
_ONSET_FRAMES = 2
# Silence kept after the last speech frame when an utterance is decoded.
_TAIL_FRAMES = 6
_HYSTERESIS = 0.15
# The most frames one decode gets: a window (937 frames, 29.98 s).
_WINDOW_FRAMES = int(WINDOW_SECONDS * SAMPLE_RATE) // FRAME_SAMPLES
# Frames averaged when looking for the quietest moment to cut a long utterance (~100 ms).
_PAUSE_FRAMES = 3


class EndReason(enum.Enum):
    SILENCE = "silence"
    MAX_LENGTH = "max_length"
    STOP = "stop"


@dataclass(frozen=True)
class UtteranceStarted:
    index: int
    # On the stream's timeline, pre-roll included.
    start_sample: int
    # Where the speech was heard to start; None for an utterance that goes on with the speech
    # of one cut at the maximum length.
    speech_start_sample: int | None


@dataclass(frozen=True, eq=False)
class InterimDue:
    """`interim_interval_ms` of new audio: the open utterance's audio since its last piece,
    which starts `offset_samples` into the utterance."""

    offset_samples: int
    audio: np.ndarray


@dataclass(frozen=True, eq=False)
class SpeculativeFinalDue:
    """The first short pause: `audio` is what the final decodes if the pause ends the
    utterance (a cut or speech going on abandons it first)."""

    audio: np.ndarray


@dataclass(frozen=True)
class SpeculationAbandoned:
    """Speech went on, a piece was cut, or a cut mid-speech ended the utterance: the
    speculative final's audio will not be the final's."""


@dataclass(frozen=True, eq=False)
class PieceCut:
    """The audio since the last cut filled a decode window: its start, `audio`, is final and
    decoded on its own; it starts `offset_samples` into the utterance."""

    offset_samples: int
    audio: np.ndarray


@dataclass(frozen=True, eq=False)
class UtteranceEnded:
    """The utterance's final audio after its pieces, which starts `offset_samples` into it.
    A speculative final not abandoned is this audio's decode."""

    reason: EndReason
    offset_samples: int
    audio: np.ndarray
    # Where the speech ended on the stream's timeline; None for a cut mid-speech, whose
    # speech goes on in the utterance opened next.
    speech_end_sample: int | None


Event = (
    UtteranceStarted
    | InterimDue
    | SpeculativeFinalDue
    | SpeculationAbandoned
    | PieceCut
    | UtteranceEnded
)


@dataclass
class _OpenUtterance:
    start_sample: int
    # The audio not yet in a piece, and the VAD's speech probability of each frame.
    frames: list[np.ndarray] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)
    committed_samples: int = 0
    silence_frames: int = 0
    samples_at_last_interim: int = 0
    speculating: bool = False

    @property
    def samples(self) -> int:
        """Samples not yet in a piece."""
        return len(self.frames) * FRAME_SAMPLES

    @property
    def total_samples(self) -> int:
        return self.committed_samples + self.samples

    def audio(self, drop_last: int = 0) -> np.ndarray:
        frames = self.frames[: len(self.frames) - drop_last] if drop_last else self.frames
        return np.concatenate(frames) if frames else np.zeros(0, dtype=np.float32)


class Endpointer:
    """`push` every frame of the stream with its speech probability, `stop` when it ends;
    each returns the events it caused, in order."""

    def __init__(
        self,
        *,
        vad_threshold: float,
        silence_ms: int,
        max_utterance_ms: int,
        interim_interval_ms: int | None,
    ) -> None:
        """`interim_interval_ms` None: no interims."""
        self._threshold = vad_threshold
        self._silence_ms = silence_ms
        self._max_utterance_frames = max(1, max_utterance_ms * SAMPLE_RATE // 1000 // FRAME_SAMPLES)
        self._interim_samples = (
            None if interim_interval_ms is None else interim_interval_ms * SAMPLE_RATE // 1000
        )
        # A pause no longer than the kept tail ends the utterance as soon as it is heard:
        # nothing to win by speculating.
        self._speculates = silence_ms > _TAIL_FRAMES * _FRAME_SECONDS * 1000
        self._frames_seen = 0
        self._preroll: deque[np.ndarray] = deque(maxlen=_PREROLL_FRAMES)
        self._onset = 0
        self._utterance: _OpenUtterance | None = None
        self._next_index = 0

    def push(self, frame: np.ndarray, probability: float) -> list[Event]:
        """One frame of FRAME_SAMPLES samples, the one after the last pushed."""
        position = self._frames_seen * FRAME_SAMPLES
        self._frames_seen += 1
        utterance = self._utterance
        if utterance is None:
            self._preroll.append(frame)
            self._onset = self._onset + 1 if probability >= self._threshold else 0
            if self._onset < _ONSET_FRAMES:
                return []
            start = position + FRAME_SAMPLES - len(self._preroll) * FRAME_SAMPLES
            return [self._open(start, position - (_ONSET_FRAMES - 1) * FRAME_SAMPLES)]
        events: list[Event] = []
        utterance.frames.append(frame)
        utterance.probabilities.append(probability)
        if probability >= self._threshold:
            utterance.silence_frames = 0
            self._abandon_speculation(utterance, events)
        elif probability < self._threshold - _HYSTERESIS:
            utterance.silence_frames += 1
            if (
                utterance.silence_frames == _TAIL_FRAMES
                and not utterance.speculating
                and self._speculates
            ):
                utterance.speculating = True
                events.append(SpeculativeFinalDue(utterance.audio()))
        if utterance.silence_frames * _FRAME_SECONDS * 1000 >= self._silence_ms:
            events += self._end(EndReason.SILENCE)
        elif utterance.total_samples >= self._max_utterance_frames * FRAME_SAMPLES:
            # Mid-speech the utterance is cut and the next one starts with the very next frame.
            # In a pause it simply ends there: an utterance opened on silence would send
            # nothing but silence to a final decode, where Whisper invents words, and its end
            # would be stamped at the cut instead of the speech's end.
            events += self._end(EndReason.MAX_LENGTH, mid_speech=utterance.silence_frames == 0)
        elif len(utterance.frames) >= _WINDOW_FRAMES:
            events += self._cut_piece(utterance)
        elif (
            self._interim_samples is not None
            and utterance.samples - utterance.samples_at_last_interim >= self._interim_samples
        ):
            utterance.samples_at_last_interim = utterance.samples
            events.append(InterimDue(utterance.committed_samples, utterance.audio()))
        return events

    def stop(self, partial_frame: np.ndarray) -> list[Event]:
        """The stream ended: an open utterance ends here, with `partial_frame` (the audio
        after the last whole frame) and no trailing silence dropped."""
        utterance = self._utterance
        if utterance is None:
            return []
        if partial_frame.size:
            utterance.frames.append(partial_frame)
            utterance.probabilities.append(0.0)
        utterance.silence_frames = 0
        return self._end(EndReason.STOP)

    def _open(self, start_sample: int, speech_start_sample: int | None) -> UtteranceStarted:
        utterance = _OpenUtterance(max(0, start_sample))
        utterance.frames.extend(self._preroll)
        # Unknown, and never searched for a cut: they open the utterance's first window.
        utterance.probabilities.extend([0.0] * len(self._preroll))
        self._utterance = utterance
        self._preroll.clear()
        self._onset = 0
        started = UtteranceStarted(self._next_index, utterance.start_sample, speech_start_sample)
        self._next_index += 1
        return started

    def _end(self, reason: EndReason, mid_speech: bool = False) -> list[Event]:
        utterance = self._utterance
        events: list[Event] = []
        if mid_speech:
            self._abandon_speculation(utterance, events)
        trailing = max(0, utterance.silence_frames - _TAIL_FRAMES)
        speech_end = (
            utterance.start_sample
            + utterance.committed_samples
            + (len(utterance.frames) - utterance.silence_frames) * FRAME_SAMPLES
        )
        events.append(
            UtteranceEnded(
                reason,
                utterance.committed_samples,
                utterance.audio(drop_last=trailing),
                None if mid_speech else speech_end,
            )
        )
        self._utterance = None
        if mid_speech:
            events.append(self._open(utterance.start_sample + utterance.total_samples, None))
        return events

    def _cut_piece(self, utterance: _OpenUtterance) -> list[Event]:
        """Cut at the quietest moment of the window's second half (the latest of equals),
        most likely a pause between words."""
        events: list[Event] = []
        half = len(utterance.frames) // 2
        # quiet[i]: the mean speech probability of the frames half+i .. half+i+_PAUSE_FRAMES-1.
        quiet = np.convolve(
            utterance.probabilities[half:], np.ones(_PAUSE_FRAMES) / _PAUSE_FRAMES, mode="valid"
        )
        quietest = len(quiet) - 1 - int(np.argmin(quiet[::-1]))
        cut = half + quietest + _PAUSE_FRAMES // 2 + 1  # just after the quiet run's middle
        self._abandon_speculation(utterance, events)
        audio = np.concatenate(utterance.frames[:cut])
        events.append(PieceCut(utterance.committed_samples, audio))
        utterance.committed_samples += audio.size
        del utterance.frames[:cut]
        del utterance.probabilities[:cut]
        utterance.silence_frames = min(utterance.silence_frames, len(utterance.frames))
        utterance.samples_at_last_interim = 0
        return events

    @staticmethod
    def _abandon_speculation(utterance: _OpenUtterance, events: list[Event]) -> None:
        if utterance.speculating:
            utterance.speculating = False
            events.append(SpeculationAbandoned())
