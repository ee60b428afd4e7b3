"""A conversation of four real voices in alternating turns, with its ground truth, for the
diarization tests (and anyone scoring speaker labels).

The voices are the recordings `real_sentences()` has: jfk ("kennedy"), beckett ("beckett"),
PocketSphinx's LibriVox reader ("reader", five sentences) and its card-names reader ("dealer",
five clips). jfk and beckett are split at their longest pauses to give each two turns. One
sentence of the reader and one clip of the dealer stay out of the conversation: they are the
reference voices (`known_voices()`) a known-speaker test matches against, so a match is of a
voice, never of the same samples.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from tests.support.recordings import real_sentences

RATE = 16000

# Analysis frames for finding pauses: 20 ms.
_FRAME = RATE // 50


class Turn(NamedTuple):
    start: float
    end: float
    speaker: str


class Conversation(NamedTuple):
    samples: np.ndarray  # int16, 16 kHz mono
    turns: list[Turn]

    @property
    def seconds(self) -> float:
        return self.samples.size / RATE

    @property
    def speakers(self) -> set[str]:
        return {turn.speaker for turn in self.turns}


def _quiet_frames(samples: np.ndarray) -> np.ndarray:
    frames = samples[: samples.size // _FRAME * _FRAME].astype(np.float32).reshape(-1, _FRAME)
    rms = np.sqrt((frames**2).mean(axis=1))
    # Relative to the clip's loud frames: these recordings have different gains and noise.
    return rms < 0.06 * np.percentile(rms, 95)


def _trimmed(samples: np.ndarray) -> np.ndarray:
    """The clip without its leading and trailing quiet (kept to 0.1 s), so that turn times in
    the ground truth are where the voice is."""
    loud = np.flatnonzero(~_quiet_frames(samples))
    if loud.size == 0:
        return samples
    start = max(0, loud[0] * _FRAME - RATE // 10)
    end = min(samples.size, (loud[-1] + 1) * _FRAME + RATE // 10)
    return samples[start:end]


def split_at_pauses(samples: np.ndarray, pieces: int, shortest: float = 2.0) -> list[np.ndarray]:
    """`samples` cut in the middle of its `pieces - 1` longest pauses, no piece shorter than
    `shortest` seconds; each piece trimmed of its quiet ends."""
    quiet = _quiet_frames(samples)
    runs: list[tuple[int, int]] = []  # (length, middle frame) of each quiet run
    start = None
    for index, is_quiet in enumerate([*quiet, False]):
        if is_quiet and start is None:
            start = index
        elif not is_quiet and start is not None:
            runs.append((index - start, (start + index) // 2))
            start = None
    cuts: list[int] = []
    for _, middle in sorted(runs, reverse=True):
        candidate = sorted([*cuts, middle * _FRAME])
        edges = [0, *candidate, samples.size]
        if min(b - a for a, b in zip(edges, edges[1:], strict=False)) >= shortest * RATE:
            cuts = candidate
        if len(cuts) == pieces - 1:
            break
    if len(cuts) != pieces - 1:
        raise ValueError(f"no {pieces - 1} pauses leave pieces of {shortest} s or more")
    edges = [0, *cuts, samples.size]
    return [_trimmed(samples[a:b]) for a, b in zip(edges, edges[1:], strict=False)]


def _voices() -> tuple[dict[str, list[np.ndarray]], dict[str, np.ndarray]]:
    """(turn clips per speaker, reference clip per speaker that has one)."""
    sentences = [samples for _, samples in real_sentences()]
    kennedy, beckett = sentences[0], sentences[1]
    reader, dealer = sentences[2:7], sentences[7:12]
    pause = np.zeros(RATE // 4, dtype=np.int16)
    turns = {
        "kennedy": split_at_pauses(kennedy, 2),
        "beckett": split_at_pauses(beckett, 2),
        "reader": [_trimmed(s) for s in (reader[0], reader[1], reader[2], reader[3])],
        # The card names are 1-2 s each: two to a turn, as a dealer would call them.
        "dealer": [
            _trimmed(np.concatenate([dealer[0], pause, dealer[1]])),
            _trimmed(np.concatenate([dealer[2], pause, dealer[3]])),
        ],
    }
    references = {"reader": _trimmed(reader[4]), "dealer": _trimmed(dealer[4])}
    return turns, references


# Who speaks when: every speaker at least twice, never twice in a row.
_ORDER = (
    "reader",
    "kennedy",
    "dealer",
    "beckett",
    "reader",
    "kennedy",
    "reader",
    "dealer",
    "beckett",
    "reader",
)


def conversation(seed: int = 18) -> Conversation:
    """Ten turns of four real speakers (~60 s) with 0.3-1.5 s pauses between turns and 0.5 s
    of silence around the whole; the ground truth's times are those of each turn's clip."""
    rng = np.random.default_rng(seed)
    clips, _ = _voices()
    used = dict.fromkeys(clips, 0)
    pieces = [np.zeros(RATE // 2, dtype=np.int16)]
    position = pieces[0].size
    turns = []
    for speaker in _ORDER:
        clip = clips[speaker][used[speaker]]
        used[speaker] += 1
        turns.append(Turn(position / RATE, (position + clip.size) / RATE, speaker))
        gap = np.zeros(int(rng.uniform(0.3, 1.5) * RATE), dtype=np.int16)
        pieces += [clip, gap]
        position += clip.size + gap.size
    pieces.append(np.zeros(RATE // 2, dtype=np.int16))
    return Conversation(np.concatenate(pieces), turns)


def known_voices() -> dict[str, np.ndarray]:
    """Reference clips (int16, 16 kHz, 2-10 s) of speakers in `conversation()`, none of them
    part of it: name -> samples."""
    return _voices()[1]


def turn_labels(truth: list[Turn], labelled: list[tuple[float, float, str]]) -> list[str]:
    """The label of each true turn: the one over most of its time among `labelled` spans
    (segments, words or turns with a label); "" where none overlaps."""
    labels = []
    for turn in truth:
        overlap: dict[str, float] = {}
        for start, end, label in labelled:
            shared = min(end, turn.end) - max(start, turn.start)
            if shared > 0 and label:
                overlap[label] = overlap.get(label, 0.0) + shared
        labels.append(max(overlap, key=overlap.__getitem__) if overlap else "")
    return labels


def consistent_fraction(truth: list[Turn], labelled: list[tuple[float, float, str]]) -> float:
    """Fraction of true turns under a consistent label: each true speaker is mapped to at most
    one label and each label to at most one speaker (the mapping that agrees with the most
    turns), and a turn counts when its label (`turn_labels`) is its speaker's."""
    labels = turn_labels(truth, labelled)
    speakers = sorted({turn.speaker for turn in truth})
    found = sorted({label for label in labels if label})
    if not found:
        return 0.0
    agree = np.zeros((len(speakers), len(found)))
    for turn, label in zip(truth, labels, strict=True):
        if label:
            agree[speakers.index(turn.speaker), found.index(label)] += 1
    rows, columns = linear_sum_assignment(agree, maximize=True)
    return float(agree[rows, columns].sum()) / len(truth)
