"""Forced alignment of a known transcript with CTranslate2's Whisper.align.

This is faster-whisper's `find_alignment` path (cross-attention + DTW), fed the transcript's
tokens instead of decoded ones, with word boundaries taken from the transcript's own
whitespace-split words so every timing maps back to a transcript index.

Whisper sees at most 30 s at once, so longer audio is aligned window by window: each window
is offered the next words; those that end clearly inside it are kept, and the next window
starts where the last kept word ended.
"""

from dataclasses import dataclass

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.audio import pad_or_trim
from faster_whisper.tokenizer import Tokenizer

from paneas.asr.v1 import asr_pb2
from paneas.services.asr.audio import SAMPLE_RATE

WINDOW_SECONDS = 30.0
# Words ending this close to a window's end may belong to the next window.
_GUARD_SECONDS = 1.0
# Whisper's decoder holds 448 positions; keep well clear of it with the prompt.
_MAX_TOKENS_PER_WINDOW = 220
# A window with no word in it (music, a long silence) is skipped by this much.
_EMPTY_WINDOW_STEP = WINDOW_SECONDS / 2


# faster-whisper's punctuation sets: marks that belong to a word but take no time of their own.
_LEADING_MARKS = "\"'“¿([{-"
_TRAILING_MARKS = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True)
class _WordTokens:
    """A transcript word's tokens: leading marks, the spoken part, trailing marks."""

    tokens: list[int]
    spoken_from: int
    spoken_to: int


@dataclass(frozen=True)
class _Timing:
    start: float
    end: float
    probability: float


class Aligner:
    def __init__(self, model: WhisperModel) -> None:
        self._model = model

    def detect_language(self, audio: np.ndarray) -> str:
        language, _, _ = self._model.detect_language(
            audio=audio[: int(WINDOW_SECONDS * SAMPLE_RATE)]
        )
        return language

    def align(self, audio: np.ndarray, transcript: str, language: str) -> asr_pb2.AlignResponse:
        model = self._model
        tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
        )
        words = transcript.split()
        tokens = [_tokenize(tokenizer, word) for word in words]
        duration = audio.size / SAMPLE_RATE
        response = asr_pb2.AlignResponse(duration_seconds=duration)
        start, index = 0.0, 0
        while index < len(words):
            if start >= duration:
                for rest in range(index, len(words)):
                    response.unaligned_words.add(
                        index=rest, word=words[rest], reason="the audio ended before this word"
                    )
                break
            end = min(duration, start + WINDOW_SECONDS)
            last_window = end >= duration
            candidates = _fitting(tokens, index)
            if candidates == index:
                response.unaligned_words.add(
                    index=index, word=words[index], reason="the word is too long to align"
                )
                index += 1
                continue
            window = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
            timings = self._align_window(window, tokenizer, tokens[index:candidates])
            limit = end - start if last_window else end - start - _GUARD_SECONDS
            kept = 0
            for offset, timing in enumerate(timings):
                if timing.end > limit + 1e-6:
                    break
                word_index = index + offset
                if last_window and _squeezed_at_end(timing, end - start):
                    response.unaligned_words.add(
                        index=word_index,
                        word=words[word_index],
                        reason="no audio left for this word; is the transcript longer than "
                        "the speech?",
                    )
                else:
                    response.words.add(
                        index=word_index,
                        word=words[word_index],
                        start_seconds=start + timing.start,
                        end_seconds=start + timing.end,
                        confidence=timing.probability,
                    )
                kept += 1
            if kept == 0:
                start += _EMPTY_WINDOW_STEP
                continue
            index += kept
            start += timings[kept - 1].end
        return response

    def _align_window(
        self, window: np.ndarray, tokenizer: Tokenizer, word_tokens: list[_WordTokens]
    ) -> list[_Timing]:
        model = self._model
        features = model.feature_extractor(window)[..., :-1]
        num_frames = features.shape[-1]
        encoder_output = model.encode(pad_or_trim(features))
        text_tokens = [token for word in word_tokens for token in word.tokens]
        (result,) = model.model.align(
            encoder_output,
            tokenizer.sot_sequence,
            [text_tokens],
            num_frames,
            median_filter_width=7,
        )
        text_indices = np.array([pair[0] for pair in result.alignments])
        time_indices = np.array([pair[1] for pair in result.alignments])
        # A token starts where the DTW path first reaches it.
        jumps = np.pad(np.diff(text_indices), (1, 0), constant_values=1).astype(bool)
        jump_times = time_indices[jumps] / model.tokens_per_second
        firsts = np.pad(np.cumsum([len(word.tokens) for word in word_tokens]), (1, 0))[:-1]
        probabilities = result.text_token_probs
        # A word spans its spoken tokens only: a comma's token absorbs the pause after it.
        return [
            _Timing(
                start=float(jump_times[first + word.spoken_from]),
                end=float(jump_times[first + word.spoken_to]),
                probability=float(
                    np.mean(probabilities[first + word.spoken_from : first + word.spoken_to])
                ),
            )
            for first, word in zip(firsts, word_tokens, strict=True)
        ]


def _tokenize(tokenizer: Tokenizer, word: str) -> _WordTokens:
    spoken = word.lstrip(_LEADING_MARKS).rstrip(_TRAILING_MARKS) or word
    start = word.find(spoken)
    leading, trailing = word[:start], word[start + len(spoken) :]
    before = tokenizer.encode(" " + leading) if leading else []
    middle = tokenizer.encode(spoken if leading else " " + spoken)
    after = tokenizer.encode(trailing) if trailing else []
    return _WordTokens(
        tokens=before + middle + after,
        spoken_from=len(before),
        spoken_to=len(before) + len(middle),
    )


def _fitting(tokens: list[_WordTokens], index: int) -> int:
    """Index past the last word that fits in one window's token budget."""
    total, end = 0, index
    while end < len(tokens) and total + len(tokens[end].tokens) <= _MAX_TOKENS_PER_WINDOW:
        total += len(tokens[end].tokens)
        end += 1
    return end


def _squeezed_at_end(timing: _Timing, window_seconds: float) -> bool:
    return timing.end - timing.start < 0.02 and timing.start >= window_seconds - 0.1
