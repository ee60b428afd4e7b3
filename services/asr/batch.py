"""Files decoded in batches of ~30 s clips without losing the text at a clip's end.

faster-whisper's `BatchedInferencePipeline` decodes each VAD chunk once. With timestamp
tokens, Whisper often closes a chunk early: it ends on the last segment it finished, or
starts one and stops before its closing timestamp, and the pipeline drops that unfinished
segment (`_split_segments_by_timestamps` leaves it for a seek that never comes). The
sequential decoder would seek to the last timestamp and decode the rest; the pipeline has no
second pass, so whole sentences vanish. Without timestamp tokens the same early stop is
invisible and every chunk comes back as one 30 s segment.

Here the pipeline decodes clips cut at pauses, without timestamp tokens but with word times,
and any clip whose decoded words end (or start) well before the speech the VAD heard in it is
decoded again from there, in batches, like the sequential decoder's seek. A clip's remainder
is decoded before the clip's segments are handed on, so segments still come out in time
order, batch by batch.

The clips are cut from the file with every pause between the VAD's speech spans (which carry
0.4 s of padding each) shortened to `pause_seconds` (`ASR_FILE_PAUSE_SECONDS`), and the times
mapped back to the file's timeline. What Whisper hears of the pauses is a trade: the bare
pipeline drops them, and packs the most speech into each 30 s clip; kept whole, they make
Whisper's text better on call-like recordings (WER 0.080 whole, 0.085 at 0.3 s, 0.090 cut
out, on 30 minutes) but the file then needs up to 40% more clips, each a full encoder and
decoder pass (docs/benchmarks.md, "Jobs").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel
from faster_whisper.transcribe import Segment, TranscriptionInfo
from faster_whisper.vad import SpeechTimestampsMap, VadOptions, get_speech_timestamps

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


class Compaction:
    """The file with every pause between speech spans shortened to `pause` seconds, and the
    way back to the file's timeline. Silence before the first span and after the last is
    left out.

    A shortened pause is kept in front of the speech after it: Whisper's word times are
    loose at a pause, mostly a word that follows one starting early, in the quiet, and a
    word is put back by the stretch of audio its middle lies in (as faster-whisper puts back
    its own VAD's cuts). Cut after the quiet instead, such a word would land a whole removed
    pause early.
    """

    def __init__(self, audio: np.ndarray, speech: list[Span], pause: float) -> None:
        kept: list[Span] = []
        for span in speech:
            if kept and span.start - kept[-1].end <= pause:
                kept[-1] = replace(kept[-1], end=span.end)
            else:
                kept.append(replace(span, start=span.start - pause) if kept else span)
        regions = [(round(r.start * SAMPLE_RATE), round(r.end * SAMPLE_RATE)) for r in kept]
        self._regions = kept
        # No speech: nothing is decoded, but the language is still detected on the audio.
        self.audio = (
            np.concatenate([audio[start:end] for start, end in regions]) if regions else audio
        )
        self._map = SpeechTimestampsMap(
            [{"start": start, "end": end} for start, end in regions], SAMPLE_RATE
        )
        # Each speech span on the compacted timeline (a span lies inside one region).
        self.speech: list[Span] = []
        region = 0
        for span in speech:
            while round(span.start * SAMPLE_RATE) >= regions[region][1]:
                region += 1
            removed = self._map.total_silence_before[region]
            self.speech.append(Span(span.start - removed, span.end - removed))

    def restore(self, segment: Segment) -> Segment:
        """`segment` (decoded from the compacted audio) on the file's timeline: each word by
        the stretch its middle lies in, and kept inside that stretch."""
        if not segment.words:
            segment.start = self._map.get_original_time(segment.start)
            segment.end = self._map.get_original_time(segment.end, is_end=True)
            return segment
        for word in segment.words:
            index = self._map.get_chunk_index((word.start + word.end) / 2)
            region = self._regions[index]
            start = max(self._map.get_original_time(word.start, index), region.start)
            end = min(self._map.get_original_time(word.end, index), region.end)
            word.start, word.end = round(start, 2), round(max(start, end), 2)
        segment.start, segment.end = segment.words[0].start, segment.words[-1].end
        return segment


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
        model: WhisperModel,  # the engine's, which has `short_audio`
        audio: np.ndarray,
        *,
        vad_filter: bool,
        batch_size: int,
        pause_seconds: float,
        options: dict,
    ) -> None:
        self._model = model
        self._batch_size = batch_size
        self._options = dict(options)
        self._wanted_words = self._options.pop("word_timestamps", False)
        self._next_id = 0
        speech = speech_spans(audio)
        self._compaction: Compaction | None = None
        if vad_filter:
            self._compaction = Compaction(audio, speech, pause_seconds)
            self._audio, self._speech = self._compaction.audio, self._compaction.speech
            self._clips = clips_at_pauses(self._speech)
        else:
            # Short audio, decoded whole; the VAD only tells where text is missing.
            self._audio, self._speech = audio, speech
            duration = audio.size / SAMPLE_RATE
            self._clips = [Span(0.0, duration)] if duration > 0 else []

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
            # Remainders are short (a few seconds): the encoder need not see each padded
            # to a whole window, which cost as much as a full clip's pass.
            with self._model.short_audio(max(piece.seconds for piece in missed)):
                latest = [
                    segment
                    for segment in self._decode(missed, language)[0]
                    if segment.avg_logprob >= LOG_PROB_THRESHOLD
                ]
            passed = missed
        decoded += latest
        decoded.sort(key=lambda segment: (segment.start, segment.end))
        for segment in decoded:
            if self._compaction is not None:
                segment = self._compaction.restore(segment)
            if not self._wanted_words:
                segment.words = None
            self._next_id += 1
            segment.id = self._next_id
            yield segment

    def _decode(
        self, clips: list[Span], language: str | None
    ) -> tuple[Iterator[Segment], TranscriptionInfo]:
        # A pipeline per call: it keeps per-call state (the last word's end) and the model is
        # shared with other requests and live streams.
        pipeline = BatchedInferencePipeline(self._model)
        segments, info = pipeline.transcribe(
            self._audio,
            language=language,
            clip_timestamps=[{"start": clip.start, "end": clip.end} for clip in clips],
            batch_size=self._batch_size,
            without_timestamps=True,
            # The words are how we see where decoding stopped, and where sentences end.
            word_timestamps=True,
            vad_filter=False,
            **self._options,
        )
        return _sentences(segments), info


_SENTENCE_END = (".", "?", "!", "。", "？", "！")


def _sentences(segments: Iterator[Segment]) -> Iterator[Segment]:
    """Without timestamp tokens a clip (up to 30 s) is one segment: cut it after each word
    that ends a sentence, with the words' times."""
    for segment in segments:
        words = segment.words or []
        if not words:
            yield segment
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
                    words=part,
                )
                start = index + 1
