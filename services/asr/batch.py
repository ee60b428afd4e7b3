"""Files decoded in batches of ~30 s clips without losing the text at a clip's end.

faster-whisper's `BatchedInferencePipeline` decodes each VAD chunk once. With timestamp
tokens, Whisper often closes a chunk early: it ends on the last segment it finished, or
starts one and stops before its closing timestamp, and the pipeline drops that unfinished
segment (`_split_segments_by_timestamps` leaves it for a seek that never comes). The
sequential decoder would seek to the last timestamp and decode the rest; the pipeline has no
second pass, so whole sentences vanish. Without timestamp tokens the same early stop is
invisible and every chunk comes back as one 30 s segment.

Here the pipeline decodes clips cut at pauses on the original timeline (so timestamps are
global and Whisper hears the pauses), with timestamps, and any clip whose decoded segments
end (or start) well before the speech the VAD heard in it is decoded again from there, in
batches, like the sequential decoder's seek. A clip's remainder is decoded before the clip's
segments are handed on, so segments still come out in time order, batch by batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel
from faster_whisper.transcribe import Segment, TranscriptionInfo
from faster_whisper.vad import VadOptions, get_speech_timestamps

SAMPLE_RATE = 16_000
# The pipeline's own VAD settings for files (`BatchedInferencePipeline.transcribe`).
_SPEECH = VadOptions(max_speech_duration_s=30, min_silence_duration_ms=160)
# One Whisper window.
MAX_CLIP_SECONDS = 30.0
# Speech the VAD heard past the last decoded segment (or before the first) that makes a clip
# worth decoding again. VAD regions carry 0.4 s of padding on each side, so a short word left
# out measures about 1.2 s; a decoded segment ending on padding alone measures under 0.8 s.
_MISSED_SPEECH_SECONDS = 1.0
# A remainder shorter than this is not decoded again (and each pass must shrink the clip).
_MIN_REMAINDER_SECONDS = 0.5
# Passes over one clip: the first, then at most this many remainders.
_MAX_RESUMES = 3
# faster-whisper's own confidence rule (its `log_prob_threshold` and `no_speech_threshold`
# defaults). A clip decoded below it was a guess (unintelligible or foreign speech, noise):
# decoding its remainder again only adds more invented sentences, so it is not resumed, and a
# remainder decoded below it is dropped: the first pass already kept what Whisper understood.
LOG_PROB_THRESHOLD = -1.0


@dataclass(frozen=True)
class Span:
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def speech_spans(audio: np.ndarray) -> list[Span]:
    return [
        Span(region["start"] / SAMPLE_RATE, region["end"] / SAMPLE_RATE)
        for region in get_speech_timestamps(audio, _SPEECH)
    ]


def clips_at_pauses(speech: list[Span], limit: float = MAX_CLIP_SECONDS) -> list[Span]:
    """Consecutive speech spans grouped into clips of at most `limit` seconds, pauses kept.

    A clip only ever ends in a pause the VAD heard (a span is at most 30 s itself)."""
    clips: list[Span] = []
    for span in speech:
        if clips and span.end - clips[-1].start <= limit:
            clips[-1] = replace(clips[-1], end=span.end)
        else:
            clips.append(span)
    return clips


def overlap(speech: list[Span], start: float, end: float) -> float:
    return sum(max(0.0, min(s.end, end) - max(s.start, start)) for s in speech)


def missed_parts(clip: Span, inside: list[Segment], speech: list[Span]) -> list[Span]:
    """The parts of `clip` with speech but no decoded segment: after the last segment
    (Whisper closed the window early) and before the first (it skipped the start)."""
    if not inside:
        return []  # nothing recognisable at all: another pass would say the same
    if min(s.avg_logprob for s in inside) < LOG_PROB_THRESHOLD:
        return []  # a guess: its remainder would be guessed too
    first = min(s.start for s in inside)
    last = max(s.end for s in inside)
    pieces = []
    if (
        first - clip.start >= _MIN_REMAINDER_SECONDS
        and overlap(speech, clip.start, first) >= _MISSED_SPEECH_SECONDS
    ):
        pieces.append(Span(clip.start, first))
    if (
        clip.end - last >= _MIN_REMAINDER_SECONDS
        and overlap(speech, last, clip.end) >= _MISSED_SPEECH_SECONDS
    ):
        pieces.append(Span(last, clip.end))
    return pieces


def _seek_of(clip: Span) -> int:
    """The `seek` (10 ms frames) the pipeline gives the segments it decodes from `clip`."""
    return int(int(clip.start * SAMPLE_RATE) / SAMPLE_RATE * 100)


class ResumingBatchDecoder:
    """One file: decode its clips in batches, resuming those that stopped early."""

    def __init__(
        self,
        model: WhisperModel,
        audio: np.ndarray,
        *,
        vad_filter: bool,
        batch_size: int,
        options: dict,
        text_mode: bool = True,
    ) -> None:
        self._model = model
        self._text_mode = text_mode
        self._audio = audio
        self._batch_size = batch_size
        self._options = options
        self.duration = audio.size / SAMPLE_RATE
        self._speech = speech_spans(audio)
        self._next_id = 0
        if vad_filter:
            self._clips = clips_at_pauses(self._speech)
        else:
            # Short audio, decoded whole; the VAD only tells where text is missing.
            self._clips = [Span(0.0, self.duration)] if self.duration > 0 else []

    def start(self, language: str | None) -> tuple[Iterator[Segment], TranscriptionInfo]:
        """Decodes the first batch's encoder pass (and detects the language) now; the rest
        as the segments are consumed."""
        first = self._clips[: self._batch_size]
        segments, info = self._decode(first or [Span(0.0, 0.0)], language)
        return self._segments(first, segments, info), info

    def _segments(
        self, first: list[Span], first_segments: Iterator[Segment], info: TranscriptionInfo
    ) -> Iterator[Segment]:
        if not first:
            return
        yield from self._finish_batch(first, first_segments, info.language)
        for index in range(self._batch_size, len(self._clips), self._batch_size):
            batch = self._clips[index : index + self._batch_size]
            segments, _ = self._decode(batch, info.language)
            yield from self._finish_batch(batch, segments, info.language)

    def _finish_batch(
        self, clips: list[Span], segments: Iterator[Segment], language: str
    ) -> Iterator[Segment]:
        decoded: list[Segment] = []
        passed, latest = clips, list(segments)
        for _ in range(_MAX_RESUMES):
            decoded += latest
            by_clip: dict[int, list[Segment]] = {}
            for segment in latest:
                by_clip.setdefault(segment.seek, []).append(segment)
            missed = [
                piece
                for clip in passed
                for piece in missed_parts(clip, by_clip.get(_seek_of(clip), []), self._speech)
            ]
            if not missed:
                latest = []
                break
            latest = [
                segment
                for segment in self._decode(missed, language)[0]
                if segment.avg_logprob >= LOG_PROB_THRESHOLD
            ]
            passed = missed
        decoded += latest
        decoded.sort(key=lambda segment: (segment.start, segment.end))
        for segment in decoded:
            self._next_id += 1
            segment.id = self._next_id
            yield segment

    def _decode(
        self, clips: list[Span], language: str | None
    ) -> tuple[Iterator[Segment], TranscriptionInfo]:
        # A pipeline per call: it keeps per-call state (the last word's end) and the model is
        # shared with other requests and live streams.
        pipeline = BatchedInferencePipeline(self._model)
        options = dict(self._options)
        wanted_words = options.pop("word_timestamps", False)
        segments, info = pipeline.transcribe(
            self._audio,
            language=language,
            clip_timestamps=[{"start": clip.start, "end": clip.end} for clip in clips],
            batch_size=self._batch_size,
            without_timestamps=self._text_mode,
            # In text mode the words are how we see where decoding stopped.
            word_timestamps=wanted_words or self._text_mode,
            vad_filter=False,
            **options,
        )
        if self._text_mode:
            segments = _sentences(segments, wanted_words)
        return segments, info


_SENTENCE_END = (".", "?", "!", "。", "？", "！")


def _sentences(segments: Iterator[Segment], keep_words: bool) -> Iterator[Segment]:
    """Text mode gives one segment per clip (up to 30 s): cut it after each word that ends
    a sentence, with the words' times."""
    for segment in segments:
        words = segment.words or []
        if not words:
            yield replace(segment, words=None if not keep_words else segment.words)
            continue
        start = 0
        for index, word in enumerate(words):
            if index + 1 == len(words) or word.word.strip().endswith(_SENTENCE_END):
                part = words[start : index + 1]
                yield replace(
                    segment,
                    start=part[0].start,
                    end=part[-1].end,
                    text="".join(w.word for w in part),
                    tokens=segment.tokens if start == 0 and index + 1 == len(words) else [],
                    words=part if keep_words else None,
                )
                start = index + 1
