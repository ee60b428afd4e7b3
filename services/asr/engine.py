"""faster-whisper behind the one interface the servicer and streams use.

Files go through `BatchedInferencePipeline` (clips cut at pauses, decoded in batches, each
resumed where Whisper stopped early: batch.py); live utterances, already cut by the stream's
own VAD, go through `WhisperModel.transcribe`.

Whisper's decoder holds 448 token positions per 30 s window, shared by the prompt (hotwords,
the initial prompt or the previous window's text, and the start-of-transcript tokens) and
the window's transcript. faster-whisper caps hotwords and context at 223 tokens each but not
their sum, and raises ValueError when prompt plus `max_new_tokens` pass 448; so here the
caller's prompt is checked against a fixed share of the window (`PROMPT_TOKEN_LIMIT`), every
prompt is kept within that share, and every decode budget within the rest.
"""

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
import structlog
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import Segment, TranscriptionInfo, get_compression_ratio

from paneas.asr.v1 import asr_pb2
from paneas.services.asr import assets, metrics
from paneas.services.asr.audio import SAMPLE_RATE
from paneas.services.asr.batch import ResumingBatchDecoder
from paneas.services.asr.errors import InvalidRequest, NotReady, UnknownModel
from paneas.services.asr.settings import AsrSettings

log = structlog.get_logger()
# faster-whisper logs every file's duration at INFO; the service logs its own requests.
logging.getLogger("faster_whisper").setLevel(logging.WARNING)

# faster-whisper's default fallback: retry hotter when a decode looks like a loop.
_FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


# Whisper's encoder always sees 30 s: short audio is padded with silence, and the encoder's
# cost is paid for the padding too. For a live utterance we let it see the audio plus some
# padding only; measured on jfk, beckett and the pt/en test clips, the text is unchanged and
# decoding 2-3x faster. The same for the short remainders of a file's clips decoded again
# (batch.py); a file's clips themselves keep faster-whisper's full windows.
_MIN_ENCODER_FRAMES = 1000
_ENCODER_PADDING_FRAMES = 200
_FRAMES_PER_SECOND = 100
# What Whisper decodes at once.
WINDOW_SECONDS = 30.0

# Decoder positions per window (Whisper's n_text_ctx).
DECODER_POSITIONS = 448
# Positions kept for each window's transcript: what bare faster-whisper leaves in its worst
# case (223 tokens of context and 5 special ones). Fast speech is ~5 tokens/s, 150 a window.
TRANSCRIPT_TOKENS = 220
_PROMPT_POSITIONS = DECODER_POSITIONS - TRANSCRIPT_TOKENS
# Special tokens around a caller's prompt: start-of-previous, start-of-transcript, language,
# task, no-timestamps.
_PROMPT_SPECIAL_TOKENS = 5
# Tokens initial_prompt and hotwords may take together (223, faster-whisper's cap for each).
PROMPT_TOKEN_LIMIT = _PROMPT_POSITIONS - _PROMPT_SPECIAL_TOKENS


class _WindowLimitReached(Exception):
    """Raised inside faster-whisper's window loop when a one-window decode wants a second."""


class _WhisperModel(WhisperModel):
    """WhisperModel whose prompts always leave `TRANSCRIPT_TOKENS` free, and whose live
    decodes can be told, per thread, to skip most of the encoder's padding and to stop after
    one window."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._live = threading.local()

    @contextmanager
    def live_decode(self, audio_seconds: float) -> Iterator[None]:
        """A live utterance's decode. One that fits in a window is decoded in exactly one:
        after it, faster-whisper seeks to the last timestamp or word and decodes the 0.2-0.4 s
        left (our tail of silence) as a window of its own, which scores badly, goes through
        the temperature fallback and samples stray words ("Slide.", "again.") at 3-4x the
        cost (docs/benchmarks.md). The whole utterance was in view of the first window, so
        nothing it missed is recovered by the second."""
        self._live.windows_left = 1 if audio_seconds <= WINDOW_SECONDS else None
        self._live.utterance = True
        try:
            with self.short_audio(audio_seconds):
                yield
        finally:
            self._live.windows_left = None
            self._live.utterance = False

    @contextmanager
    def short_audio(self, audio_seconds: float) -> Iterator[None]:
        """Decodes, on this thread, of audio at most `audio_seconds` long: the encoder sees
        it plus some padding, not the whole window of silence faster-whisper pads it to."""
        frames = int(audio_seconds * _FRAMES_PER_SECOND) + _ENCODER_PADDING_FRAMES
        self._live.encoder_frames = max(frames, _MIN_ENCODER_FRAMES)
        try:
            yield
        finally:
            self._live.encoder_frames = None

    def encode(self, features: np.ndarray):
        if getattr(self._live, "windows_left", None) == 0:
            raise _WindowLimitReached  # before paying for the second window's encoder
        limit = getattr(self._live, "encoder_frames", None)
        if limit is not None and features.shape[-1] > limit:
            features = np.ascontiguousarray(features[..., :limit])
        return super().encode(features)

    def generate_with_fallback(self, encoder_output, prompt, tokenizer, options):
        windows_left = getattr(self._live, "windows_left", None)
        if windows_left == 0:
            raise _WindowLimitReached
        if windows_left is not None:
            self._live.windows_left = windows_left - 1
        if not getattr(self._live, "utterance", False):
            return super().generate_with_fallback(encoder_output, prompt, tokenizer, options)
        # Live: no retries at higher temperatures. Not on a low average log-probability:
        # over the handful of tokens of a short, quiet utterance ("Ever failed.") that
        # average is under -1 whatever the text, and the five retries cost 3-6x the decode
        # to return the same words, or sampled stray ones. Not on repetition either: a
        # short utterance's beam search sometimes loops ("Try again again again ..."), and
        # the sampled retries then returned "Try again True True True True True" or
        # "3 3 3 5 5 5" at seconds of cost (docs/benchmarks.md); the words before the loop
        # are the utterance, so the loop is cut instead. The window loop still reads the
        # log-probability threshold to tell silence (`no_speech_prob`) from speech.
        options = replace(
            options, log_prob_threshold=None, temperatures=list(options.temperatures)[:1]
        )
        result, avg_logprob, temperature, ratio = super().generate_with_fallback(
            encoder_output, prompt, tokenizer, options
        )
        threshold = options.compression_ratio_threshold
        if threshold is None or ratio <= threshold:
            return result, avg_logprob, temperature, ratio
        kept = cut_loop(result.sequences_ids[0], tokenizer)
        if kept is None:
            return result, avg_logprob, temperature, ratio
        metrics.LOOPS_CUT.inc()
        cut = _CutResult([kept], result.scores, result.no_speech_prob)
        ratio = get_compression_ratio(tokenizer.decode(kept).strip())
        return cut, avg_logprob, temperature, ratio

    def get_prompt(
        self,
        tokenizer,
        previous_tokens,
        without_timestamps=False,
        prefix=None,
        hotwords=None,
    ):
        """faster-whisper's prompt, with the previous window's text (the oldest of it first)
        cut so that hotwords and context together leave `TRANSCRIPT_TOKENS` positions: it
        caps each at 223 tokens, and their sum could leave the transcript none."""
        prompt = super().get_prompt(
            tokenizer, previous_tokens, without_timestamps, prefix, hotwords
        )
        excess = len(prompt) - _PROMPT_POSITIONS
        if excess <= 0 or not previous_tokens:
            return prompt
        kept = min(len(previous_tokens), self.max_length // 2 - 1) - excess
        previous = previous_tokens[len(previous_tokens) - kept :] if kept > 0 else []
        return super().get_prompt(tokenizer, previous, without_timestamps, prefix, hotwords)


@dataclass(frozen=True)
class SpokenContext:
    """What a live stream heard just before an utterance: its audio and its final text."""

    audio: np.ndarray = field(repr=False)
    text: str


def _letters(text: str) -> str:
    return "".join(character for character in text.lower() if character.isalnum())


def after_prefix(
    segments: list[Segment], prefix: str, boundary: float, keep_words: bool
) -> list[Segment]:
    """The segments of a decode forced to start with `prefix`, without the prefix's words
    (told by their letters, which the decode may punctuate differently: "Americans" comes
    back "Americans,"), on a timeline that starts at `boundary`. Empty when the words do not
    start with the prefix or nothing follows it."""
    target = _letters(prefix)
    words = [word for segment in segments for word in segment.words or ()]
    covered = ""
    prefix_words = 0
    while covered != target:
        if prefix_words == len(words) or not target.startswith(covered):
            return []
        covered += _letters(words[prefix_words].word)
        prefix_words += 1
    spoken = {id(word) for word in words[prefix_words:]}
    kept = []
    for segment in segments:
        own = [
            replace(
                word,
                start=max(word.start - boundary, 0.0),
                end=max(word.end - boundary, 0.0),
            )
            for word in segment.words or ()
            if id(word) in spoken
        ]
        if not own:
            continue
        kept.append(
            replace(
                segment,
                start=own[0].start,
                end=own[-1].end,
                text="".join(word.word for word in own),
                tokens=[],
                words=own if keep_words else None,
            )
        )
    return kept


@dataclass(frozen=True)
class _CutResult:
    """What faster-whisper's window loop reads of a CTranslate2 generation result."""

    sequences_ids: list[list[int]]
    scores: list[float]
    no_speech_prob: float


# A loop is the same tokens at least this many times in a row up to the end of the decode.
_LOOP_REPEATS = 3


def cut_loop(tokens: list[int], tokenizer: Tokenizer) -> list[int] | None:
    """`tokens` up to the end of the first pass of the loop they end in ("Try again again
    again" -> "Try again"), or None when they do not end in one. Timestamp tokens count as
    one token whatever their time, so "<|0.00|> Go.<|1.00|><|1.00|> Go.<|2.00|> ..." is a
    loop too. The loop is found from its earliest start; the cut falls within its second
    pass where a pass ends: after a segment's closing timestamp, else after a sentence's
    last token, else where the second pass begins."""
    begin = tokenizer.timestamp_begin
    keys = [-1 if token >= begin else token for token in tokens]
    end = len(keys)
    while end and keys[end - 1] == -1:
        end -= 1  # a closing timestamp after the loop
    for start in range(end):
        tail = end - start
        for period in range(1, tail // _LOOP_REPEATS + 1):
            if all(keys[start + k] == keys[start + k % period] for k in range(period, tail)):
                return tokens[: _pass_end(tokens, tokenizer, start + period, period)]
    return None


def _pass_end(tokens: list[int], tokenizer: Tokenizer, first: int, period: int) -> int:
    cuts = range(first, first + period)
    begin = tokenizer.timestamp_begin
    for cut in cuts:
        if tokens[cut - 1] >= begin and tokens[cut - 2] < begin:
            return cut
    for cut in cuts:
        if tokens[cut - 1] < begin and tokenizer.decode([tokens[cut - 1]]).rstrip()[-1:] in ".!?":
            return cut
    return first


def _one_window(segments: Iterator[Segment]) -> list[Segment]:
    """The segments of a decode, up to where a one-window decode was stopped."""
    decoded = []
    try:
        for segment in segments:
            decoded.append(segment)
    except _WindowLimitReached:
        pass
    return decoded


def _token_budget(seconds: float) -> int:
    """Tokens one window of an utterance this long can need, generously (fast speech is
    ~5 tokens/s), and never more than the prompt leaves (`max_new_tokens` is per window).

    A live utterance can be a lone word or a breath; on those Whisper sometimes loops
    ("again again again ..." until the 448-token window is full). The budget ends a loop a
    few words in instead of half a window later.
    """
    return min(int(16 + 10 * min(seconds, WINDOW_SECONDS)), TRANSCRIPT_TOKENS)


@dataclass(frozen=True)
class DecodeOptions:
    language: str | None = None
    task: str = "transcribe"
    initial_prompt: str | None = None
    hotwords: str | None = None
    vad_filter: bool = False
    word_timestamps: bool = False
    temperature: float = 0.0
    beam_size: int = 5


@dataclass
class Transcript:
    language: str
    language_probability: float
    duration: float
    segments: Iterator[Segment] = field(repr=False)


class WhisperEngine:
    def __init__(self, settings: AsrSettings) -> None:
        self._settings = settings
        self.model_name = settings.model
        self.model: _WhisperModel | None = None
        self._languages: frozenset[str] = frozenset()
        self._source = ""

    def load(self) -> None:
        settings = self._settings
        started = time.perf_counter()
        self._source = self._model_source()
        self.model = _WhisperModel(
            self._source,
            device=settings.device,
            device_index=settings.device_index,
            compute_type=self._compute_type(),
            cpu_threads=settings.cpu_threads or os.cpu_count() or 1,
            num_workers=settings.workers,
        )
        self._languages = frozenset(self.model.supported_languages)
        if settings.warmup:
            self._warm_up()
        log.info(
            "asr model loaded",
            model=self.model_name,
            device=settings.device,
            compute_type=self._compute_type(),
            seconds=round(time.perf_counter() - started, 2),
        )

    def _model_source(self) -> str:
        if self.model_name == assets.PACKAGED_MODEL:
            return str(assets.ensure_packaged_model())
        return self.model_name

    def _compute_type(self) -> str:
        if self._settings.compute_type != "default":
            return self._settings.compute_type
        # "auto" lets CTranslate2 pick the fastest type the device it lands on supports.
        return {"cpu": "int8", "cuda": "float16"}.get(self._settings.device, "auto")

    def _warm_up(self) -> None:
        # A second of quiet noise runs the encoder and decoder once, so the first caller
        # does not pay for lazy allocations.
        noise = np.random.default_rng(0).normal(0, 0.01, SAMPLE_RATE).astype(np.float32)
        segments, _ = self.model.transcribe(noise, language="en", beam_size=1, vad_filter=False)
        list(segments)

    def check_model(self, requested: str) -> None:
        if self.model is None:
            raise NotReady("the speech model is still loading; retry in a few seconds")
        if requested and requested not in (self.model_name, self._source):
            raise UnknownModel(
                f"model '{requested}' is not served here: this instance serves "
                f"'{self.model_name}'; leave model empty or start an instance with "
                f"ASR_MODEL={requested}"
            )

    def options_of(self, config: asr_pb2.RecognitionConfig) -> DecodeOptions:
        self.check_model(config.model)
        hotwords = " ".join(word.strip() for word in config.hotwords if word.strip())
        if config.beam_size < 0 or config.beam_size > 20:
            raise InvalidRequest(
                f"beam_size {config.beam_size} is out of range (1-20, 0 = default)"
            )
        if not 0.0 <= config.temperature <= 1.0:
            raise InvalidRequest(f"temperature {config.temperature} is out of range (0-1)")
        self._check_prompt(config.initial_prompt, hotwords)
        return DecodeOptions(
            language=self.language_of(config.language),
            task="translate" if config.task == asr_pb2.TASK_TRANSLATE else "transcribe",
            initial_prompt=config.initial_prompt or None,
            hotwords=hotwords or None,
            vad_filter=config.vad_filter,
            word_timestamps=config.word_timestamps,
            temperature=config.temperature,
            beam_size=config.beam_size or self._settings.beam_size,
        )

    def _check_prompt(self, initial_prompt: str, hotwords: str) -> None:
        """Refuses (rather than silently trims) a prompt that would not leave a window room
        for its transcript: which end of it matters is the caller's call."""
        tokens = self.prompt_tokens(initial_prompt) + self.prompt_tokens(hotwords)
        if tokens > PROMPT_TOKEN_LIMIT:
            raise InvalidRequest(
                f"initial_prompt and hotwords are {tokens} tokens together; the limit is "
                f"{PROMPT_TOKEN_LIMIT} tokens (Whisper's decoder holds {DECODER_POSITIONS} "
                f"tokens per 30 s window and keeps {TRANSCRIPT_TOKENS} for the transcript): "
                "shorten the prompt (its last sentences matter most) or send fewer hotwords"
            )

    def prompt_tokens(self, text: str) -> int:
        """Whisper tokens of a prompt text, counted as faster-whisper encodes it."""
        if not text.strip():
            return 0
        encoding = self.model.hf_tokenizer.encode(" " + text.strip(), add_special_tokens=False)
        return len(encoding.ids)

    def language_of(self, language: str) -> str | None:
        """'pt-BR' -> 'pt'; None means detect."""
        if not language:
            return None
        code = language.replace("_", "-").split("-")[0].lower()
        if code not in self._languages:
            raise InvalidRequest(
                f"language '{language}' is not supported by this model; use an ISO 639-1 code "
                "such as 'pt' or 'en', or leave it empty to detect it"
            )
        return code

    def transcribe_file(self, audio: np.ndarray, options: DecodeOptions) -> Transcript:
        """Lazy: segments are decoded as the iterator is consumed (batch by batch)."""
        duration = audio.size / SAMPLE_RATE
        common = dict(
            language=options.language,
            task=options.task,
            initial_prompt=options.initial_prompt,
            hotwords=options.hotwords,
            word_timestamps=options.word_timestamps,
            beam_size=options.beam_size,
        )
        if options.vad_filter or duration < 30:
            # Batched clips cut at pauses; a clip whose text ends (or starts) well before the
            # speech in it is decoded again from there (batch.py says why the pipeline alone
            # drops sentences).
            language = common.pop("language")
            decoder = ResumingBatchDecoder(
                self.model,
                audio,
                vad_filter=options.vad_filter,
                batch_size=self._settings.batch_size,
                pause_seconds=self._settings.file_pause_seconds,
                options=dict(temperature=options.temperature, **common),
            )
            segments, info = decoder.start(language)
        else:
            # Without VAD the batched pipeline has no way to cut long audio; the sequential
            # decoder seeks through it window by window instead.
            segments, info = self.model.transcribe(
                audio,
                vad_filter=False,
                temperature=self._temperatures(options.temperature),
                **common,
            )
        return _transcript(info, segments, duration)

    def transcribe_utterance(
        self,
        audio: np.ndarray,
        options: DecodeOptions,
        interim: bool,
        context: SpokenContext | None = None,
    ) -> tuple[list[Segment], TranscriptionInfo]:
        """One live utterance. Interim passes are greedy and skip word alignment: they are
        superseded within half a second anyway.

        A final may be given `context`, the utterance just before it: decoded alone, a short
        phrase has nothing to go on ("Fail better." after "Fail again." comes out "Failed
        better.", "Ever failed." as "Everfair old."), where a file's decoder hears it after
        what came before. The context's audio is decoded in front of the utterance with its
        text forced as the decode's prefix, so everything decoded after the prefix is the
        utterance's own (telling the two apart by word times leaked words across the
        boundary, docs/benchmarks.md). Without words after the prefix (a wrong prefix can
        leave the decoder nothing to add), the utterance is decoded alone."""
        started = time.perf_counter()
        seconds = audio.size / SAMPLE_RATE
        decoded = None
        if context is not None and not interim and self._context_fits(context, audio, options):
            decoded, info = self._transcribe_after(context, audio, options)
        if not decoded:
            with self.model.live_decode(seconds):
                decoded, info = self._transcribe_utterance(audio, options, interim)
        if seconds > 0:
            metrics.REAL_TIME_FACTOR.labels(kind="interim" if interim else "final").observe(
                (time.perf_counter() - started) / seconds
            )
        return decoded, info

    def _context_fits(
        self, context: SpokenContext, audio: np.ndarray, options: DecodeOptions
    ) -> bool:
        """The context and the utterance fit one window, and its text the prompt's share of
        it; never with hotwords, which faster-whisper drops when a prefix is given."""
        if options.hotwords or not _letters(context.text):
            return False
        if (context.audio.size + audio.size) / SAMPLE_RATE > WINDOW_SECONDS:
            return False
        prompt = self.prompt_tokens(options.initial_prompt or "")
        return prompt + self.prompt_tokens(context.text) <= PROMPT_TOKEN_LIMIT

    def _transcribe_after(
        self, context: SpokenContext, audio: np.ndarray, options: DecodeOptions
    ) -> tuple[list[Segment], TranscriptionInfo]:
        joined = np.concatenate([context.audio, audio])
        with self.model.live_decode(joined.size / SAMPLE_RATE):
            decoded, info = self._transcribe_utterance(
                joined, replace(options, word_timestamps=True), False, prefix=context.text
            )
        boundary = context.audio.size / SAMPLE_RATE
        return after_prefix(decoded, context.text, boundary, options.word_timestamps), info

    def _transcribe_utterance(
        self,
        audio: np.ndarray,
        options: DecodeOptions,
        interim: bool,
        prefix: str | None = None,
    ) -> tuple[list[Segment], TranscriptionInfo]:
        segments, info = self.model.transcribe(
            audio,
            language=options.language,
            task=options.task,
            initial_prompt=options.initial_prompt,
            hotwords=options.hotwords,
            beam_size=1 if interim else options.beam_size,
            temperature=0.0 if interim else self._temperatures(options.temperature),
            word_timestamps=options.word_timestamps and not interim,
            without_timestamps=interim,
            condition_on_previous_text=False,
            vad_filter=False,
            max_new_tokens=_token_budget(audio.size / SAMPLE_RATE),
            prefix=prefix,
        )
        return _one_window(segments), info

    @staticmethod
    def _temperatures(temperature: float) -> float | tuple[float, ...]:
        return temperature if temperature > 0 else _FALLBACK_TEMPERATURES


def _transcript(
    info: TranscriptionInfo, segments: Iterator[Segment], duration: float
) -> Transcript:
    return Transcript(
        language=info.language,
        language_probability=info.language_probability,
        duration=duration,
        segments=segments,
    )
