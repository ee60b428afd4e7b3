"""Speaker labels of a long recording, linked across its chunks.

Each chunk is diarized on its own by the ASR service, so its labels ("A", "B", ...) are its
own: chunk 2's "A" may be chunk 1's "B". The service also answers each speaker's voice (the
L2-normalised mean CAM++ embedding of its speech), and voices of one person are close in
cosine similarity wherever they were heard. `link` walks the chunks in time order and keeps
one voice per recording-wide speaker (the speech-weighted mean of the chunk voices linked to
it); each chunk's speakers are matched one to one to those voices (the assignment with the
highest total similarity, `linear_sum_assignment`), so two speakers the service told apart in
one chunk never become one. A match counts only at `LINK_COSINE` or more; a speaker without
one is a new speaker. Labels are "A", "B", ... in order of first appearance on the merged
timeline.

The stored chunk responses keep the voices, so a task delivered again, or a job resumed by
another worker, links the same chunks in the same order to the same labels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from paneas.asr.v1 import asr_pb2
from paneas.services.asr.labels import speaker_label

# Same voice when the cosine of the chunk voice and the running voice is at least this.
# Measured with the service's CAM++ embeddings on bench/diarization.py's recordings cut into
# 60 s chunks: one person's voices in different chunks at 0.79-0.95, different people at
# 0.43-0.84 (the one-to-one assignment keeps most of those apart). Over 0.6-0.85, DER with
# collar of the linked chunks was flat up to 0.7 and grew above it, as more voices went
# unlinked (more speakers than there are).
LINK_COSINE = 0.7


@dataclass
class _Voice:
    total: np.ndarray  # speech-weighted sum of the linked chunk voices
    seconds: float = 0.0

    @property
    def direction(self) -> np.ndarray:
        norm = float(np.linalg.norm(self.total))
        return self.total / norm if norm else self.total


@dataclass
class Linked:
    """Per chunk (in the order given): its label -> the recording-wide speaker's number; and
    each recording-wide speaker's voice and seconds of speech."""

    chunk_labels: list[dict[str, int]] = field(default_factory=list)
    voices: list[_Voice] = field(default_factory=list)


def link(chunks: Iterable[asr_pb2.Diarization], threshold: float = LINK_COSINE) -> Linked:
    linked = Linked()
    for diarization in chunks:
        mapping: dict[str, int] = {}
        speakers = [s for s in diarization.speakers if len(s.embedding)]
        if speakers and linked.voices:
            heard = np.array([list(s.embedding) for s in speakers], dtype=np.float64)
            heard /= np.maximum(np.linalg.norm(heard, axis=1, keepdims=True), 1e-12)
            known = np.array([voice.direction for voice in linked.voices])
            similarity = heard @ known.T
            for row, column in zip(*linear_sum_assignment(similarity, maximize=True), strict=True):
                if similarity[row, column] >= threshold:
                    mapping[speakers[row].label] = int(column)
        for speaker in speakers:
            weight = max(speaker.speech_seconds, 1e-3)
            vector = np.asarray(speaker.embedding, dtype=np.float64)
            if speaker.label not in mapping:
                mapping[speaker.label] = len(linked.voices)
                linked.voices.append(_Voice(np.zeros_like(vector)))
            voice = linked.voices[mapping[speaker.label]]
            voice.total = voice.total + weight * vector / max(np.linalg.norm(vector), 1e-12)
            voice.seconds += speaker.speech_seconds
        linked.chunk_labels.append(mapping)
    return linked


def relabel(
    parts: list[tuple[int, list[asr_pb2.Segment], asr_pb2.Diarization]],
) -> asr_pb2.Diarization:
    """Gives the segments (and their words) of each part (channel, shifted segments of one
    chunk, that chunk's diarization; parts of one channel in time order) their
    recording-wide label, per channel; returns the recording's speakers (one channel's, or
    every channel's in channel order) with their voices."""
    summary = asr_pb2.Diarization()
    notes: list[str] = []
    for channel in sorted({part[0] for part in parts}):
        mine = [part for part in parts if part[0] == channel]
        linked = link(diarization for _, _, diarization in mine)
        # Labels in order of first appearance on the timeline.
        first: dict[int, float] = {}
        for (_, segments, _), mapping in zip(mine, linked.chunk_labels, strict=True):
            for segment in segments:
                number = mapping.get(segment.speaker)
                if number is not None:
                    first[number] = min(
                        first.get(number, segment.start_seconds), segment.start_seconds
                    )
        order = sorted(range(len(linked.voices)), key=lambda n: (first.get(n, float("inf")), n))
        labels = {number: speaker_label(place) for place, number in enumerate(order)}
        for (_, segments, _), mapping in zip(mine, linked.chunk_labels, strict=True):
            for segment in segments:
                segment.speaker = _global(segment.speaker, mapping, labels)
                for word in segment.words:
                    word.speaker = _global(word.speaker, mapping, labels)
        for number in order:
            voice = linked.voices[number]
            summary.speakers.add(
                label=labels[number],
                channel=channel,
                speech_seconds=round(voice.seconds, 3),
                embedding=voice.direction.astype(np.float32).tolist(),
            )
        # A chunk's note ("under 8 s of speech: ...") is about the recording only when the
        # chunk is all of it.
        if len(mine) == 1 and mine[0][2].note and mine[0][2].note not in notes:
            notes.append(mine[0][2].note)
    summary.note = "; ".join(notes)
    return summary


def _global(label: str, mapping: dict[str, int], labels: dict[int, str]) -> str:
    """A chunk's label as the recording's; empty for one the chunk's speakers do not list
    (never a chunk's own letter, which would mean another speaker here)."""
    number = mapping.get(label)
    return labels[number] if number is not None else ""
