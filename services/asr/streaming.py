"""One live recognition stream: endpointing on the stream's own VAD, interim and final decodes.

Audio is cut into utterances where the VAD hears `silence_ms` of silence (or at the maximum
utterance length). Every utterance is decoded once, whole, for its final result: the same
work a file gets, so the final text is as good as batch. While it grows, greedy interim
decodes of the audio so far run every `interim_interval_ms` of new audio; they are dropped
when newer audio or the final supersedes them, so a busy machine sheds interims, not finals.

No decode covers more than one 30 s window, whatever `max_utterance_ms` is: an utterance that
reaches a window's length is cut at the quietest moment of the window's second half, and that
piece is decoded at once while the rest is spoken; the final joins the pieces. A decode that
fails gives its utterance a final result with `error` set, and the stream goes on; if the
stream's decode loop itself fails, the stream ends with INTERNAL (`failure`).
"""

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import numpy as np
import structlog

from paneas.asr.v1 import asr_pb2
from paneas.services.asr import metrics
from paneas.services.asr.audio import SAMPLE_RATE, PcmConverter
from paneas.services.asr.engine import WINDOW_SECONDS, DecodeOptions, WhisperEngine
from paneas.services.asr.errors import AudioTooLong, ChunkTooLarge, Overloaded, StreamFailed
from paneas.services.asr.results import words_of
from paneas.services.asr.scheduler import DecodeScheduler, Priority
from paneas.services.asr.vad import FRAME_SAMPLES, StreamingVad

log = structlog.get_logger()

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
# Audio handed to final decodes and not yet decoded: past this the stream reads no more of
# the client's audio until the decoder catches up (`wait_for_decoder`), so a client sending
# faster than real time is slowed down by gRPC flow control instead of growing this process
# by the audio it is ahead (float32: 64 KB a second).
MAX_UNDECODED_SECONDS = 60.0


@dataclass(frozen=True)
class StreamConfig:
    options: DecodeOptions
    session_id: str
    sample_rate: int
    channels: int
    float32: bool
    interim_results: bool
    silence_ms: int
    max_utterance_ms: int
    interim_interval_ms: int
    vad_threshold: float
    max_chunk_bytes: int
    max_stream_seconds: float
    # The client asked for LLM insights (services/asr/insights.py).
    insights: bool = False


@dataclass(frozen=True)
class _Piece:
    """The start of a long utterance, cut off at a pause and decoded while the rest goes on."""

    offset_samples: int
    decode: asyncio.Task


@dataclass
class _Utterance:
    index: int
    start_sample: int
    # The audio not yet in a piece, and the VAD's speech probability of each frame.
    frames: list[np.ndarray] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)
    pieces: list[_Piece] = field(default_factory=list)
    committed_samples: int = 0
    silence_frames: int = 0
    samples_at_last_interim: int = 0
    interims_sent: int = 0
    last_interim_words: list[str] = field(default_factory=list)
    # A final decode started at the first pause, in case the pause ends the utterance.
    speculation: asyncio.Task | None = None

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


@dataclass(frozen=True)
class _DecodeJob:
    utterance: _Utterance
    # The utterance's audio after its pieces, which start `offset_samples` into it.
    audio: np.ndarray
    # When the audio that asked for this decode arrived (perf_counter), for latency metrics.
    arrived_at: float
    speculation: asyncio.Task | None = None
    offset_samples: int = 0


class StreamSession:
    """Feed it audio with `accept_audio`, read `responses` until None, `finish` on half-close,
    `cancel` when the client leaves."""

    def __init__(
        self, engine: WhisperEngine, scheduler: DecodeScheduler, config: StreamConfig
    ) -> None:
        self._engine = engine
        self._scheduler = scheduler
        self._config = config
        self.responses: asyncio.Queue[asr_pb2.StreamingRecognizeResponse | None] = asyncio.Queue()
        self._converter = PcmConverter(config.sample_rate, config.channels, config.float32)
        self._vad = StreamingVad()
        self._pending = np.zeros(0, dtype=np.float32)
        self._frames_seen = 0
        self._samples_received = 0
        self._preroll: deque[np.ndarray] = deque(maxlen=_PREROLL_FRAMES)
        self._onset = 0
        self._utterance: _Utterance | None = None
        self._next_index = 0
        self._finals: deque[_DecodeJob] = deque()
        self._interim: _DecodeJob | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self._transcripts: list[str] = []
        self._word_count = 0
        # Interims reuse the language the last final found, skipping detection.
        self._language = config.options.language
        # Called with each final transcript; the LLM insights hook.
        self.on_final: list[Callable[[asr_pb2.StreamingRecognitionResult], None]] = []
        # Set when the decode loop itself failed: the stream cannot go on.
        self.failure: StreamFailed | None = None
        # Samples of final decodes (pieces and finals) not yet done, and a signal each time
        # one is: what `wait_for_decoder` paces the client's audio by.
        self._undecoded_samples = 0
        self._decoded = asyncio.Event()
        self._decoder = asyncio.create_task(self._decode_loop(), name="asr-stream-decoder")

    @property
    def session_id(self) -> str:
        return self._config.session_id

    @property
    def audio_seconds(self) -> float:
        return self._samples_received / SAMPLE_RATE

    async def wait_for_decoder(self) -> None:
        """Returns once the audio waiting for final decodes is under MAX_UNDECODED_SECONDS
        (at once, normally): call it before reading more of the client's audio."""
        limit = MAX_UNDECODED_SECONDS * SAMPLE_RATE
        while self._undecoded_samples > limit and self.failure is None:
            self._decoded.clear()
            await self._decoded.wait()

    def _queued_for_decode(self, samples: int) -> None:
        self._undecoded_samples += samples

    def _done_decoding(self, samples: int) -> None:
        self._undecoded_samples -= samples
        self._decoded.set()

    def accept_audio(self, chunk: bytes) -> None:
        arrived_at = time.perf_counter()
        if len(chunk) > self._config.max_chunk_bytes:
            raise ChunkTooLarge(
                f"an audio chunk of {len(chunk)} bytes is over the {self._config.max_chunk_bytes}"
                " byte limit; send smaller chunks (100 ms of audio is typical)"
            )
        samples = self._converter.convert(chunk)
        self._consume(samples, arrived_at)

    def _consume(self, samples: np.ndarray, arrived_at: float) -> None:
        self._samples_received += samples.size
        metrics.AUDIO_SECONDS.labels(rpc="stream").inc(samples.size / SAMPLE_RATE)
        if self.audio_seconds > self._config.max_stream_seconds:
            raise AudioTooLong(
                f"the stream passed its {self._config.max_stream_seconds:.0f} s limit; "
                "open a new stream to go on"
            )
        probabilities = self._vad.process(samples)
        audio = np.concatenate([self._pending, samples])
        count = probabilities.size
        self._pending = audio[count * FRAME_SAMPLES :]
        for i, probability in enumerate(probabilities):
            frame = audio[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES]
            self._on_frame(frame, float(probability), arrived_at)

    def _on_frame(self, frame: np.ndarray, probability: float, arrived_at: float) -> None:
        position = self._frames_seen * FRAME_SAMPLES
        self._frames_seen += 1
        config = self._config
        utterance = self._utterance
        if utterance is None:
            self._preroll.append(frame)
            self._onset = self._onset + 1 if probability >= config.vad_threshold else 0
            if self._onset >= _ONSET_FRAMES:
                self._open_utterance(position + FRAME_SAMPLES - len(self._preroll) * FRAME_SAMPLES)
                self._emit_event(
                    asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED,
                    (position - (_ONSET_FRAMES - 1) * FRAME_SAMPLES) / SAMPLE_RATE,
                )
            return
        utterance.frames.append(frame)
        utterance.probabilities.append(probability)
        if probability >= config.vad_threshold:
            utterance.silence_frames = 0
            self._abandon_speculation(utterance)
        elif probability < config.vad_threshold - _HYSTERESIS:
            utterance.silence_frames += 1
            if utterance.silence_frames == _TAIL_FRAMES and utterance.speculation is None:
                self._speculate(utterance)
        if utterance.silence_frames * _FRAME_SECONDS * 1000 >= config.silence_ms:
            self._end_utterance(arrived_at)
        elif utterance.total_samples >= self._max_utterance_frames * FRAME_SAMPLES:
            # The longest utterance. Mid-speech it is cut and the next utterance starts with
            # the very next frame. In a pause it simply ends there: an utterance opened on
            # silence would send nothing but silence to a final decode, where Whisper invents
            # words, and its end event would be stamped at the cut instead of the speech's end.
            self._end_utterance(arrived_at, forced=utterance.silence_frames == 0)
        elif len(utterance.frames) >= _WINDOW_FRAMES:
            self._cut_piece(utterance)
        elif (
            config.interim_results
            and utterance.samples - utterance.samples_at_last_interim
            >= config.interim_interval_ms * SAMPLE_RATE // 1000
        ):
            utterance.samples_at_last_interim = utterance.samples
            if self._interim is not None:
                metrics.SKIPPED_INTERIMS.inc()
            self._interim = _DecodeJob(
                utterance, utterance.audio(), arrived_at, offset_samples=utterance.committed_samples
            )
            self._wake.set()

    @property
    def _max_utterance_frames(self) -> int:
        return max(1, self._config.max_utterance_ms * SAMPLE_RATE // 1000 // FRAME_SAMPLES)

    def _cut_piece(self, utterance: _Utterance) -> None:
        """The utterance's audio since its last cut fills a decode window: cut it at the
        quietest moment of the window's second half (the latest of equals), most likely a
        pause between words, and decode that piece now, at final priority."""
        half = len(utterance.frames) // 2
        # quiet[i]: the mean speech probability of the frames half+i .. half+i+_PAUSE_FRAMES-1.
        quiet = np.convolve(
            utterance.probabilities[half:], np.ones(_PAUSE_FRAMES) / _PAUSE_FRAMES, mode="valid"
        )
        quietest = len(quiet) - 1 - int(np.argmin(quiet[::-1]))
        cut = half + quietest + _PAUSE_FRAMES // 2 + 1  # just after the quiet run's middle
        self._abandon_speculation(utterance)
        audio = np.concatenate(utterance.frames[:cut])
        decode = asyncio.create_task(self._decode_final(audio))
        self._queued_for_decode(audio.size)
        decode.add_done_callback(lambda _, samples=audio.size: self._done_decoding(samples))
        utterance.pieces.append(_Piece(utterance.committed_samples, decode))
        utterance.committed_samples += audio.size
        del utterance.frames[:cut]
        del utterance.probabilities[:cut]
        utterance.silence_frames = min(utterance.silence_frames, len(utterance.frames))
        utterance.samples_at_last_interim = 0

    def _speculate(self, utterance: _Utterance) -> None:
        """Starts the final decode at the first short pause. The audio it decodes is exactly
        what the final would decode if the pause ends the utterance (trailing silence beyond
        the kept tail is dropped), so waiting out `silence_ms` costs no extra latency."""
        if self._config.silence_ms <= _TAIL_FRAMES * _FRAME_SECONDS * 1000:
            return
        audio = utterance.audio()
        utterance.speculation = asyncio.create_task(self._decode_final(audio))

    def _abandon_speculation(self, utterance: _Utterance) -> None:
        if utterance.speculation is not None:
            utterance.speculation.cancel()
            utterance.speculation = None
            metrics.SPECULATIONS.labels(outcome="abandoned").inc()

    async def _decode_final(self, audio: np.ndarray):
        options = self._config.options
        async with self._scheduler.slot(Priority.FINAL):
            return await self._scheduler.run(
                lambda: self._engine.transcribe_utterance(audio, options, interim=False)
            )

    def _open_utterance(self, start_sample: int) -> None:
        self._utterance = _Utterance(self._next_index, max(0, start_sample))
        self._utterance.frames.extend(self._preroll)
        # Unknown, and never searched for a cut: they open the utterance's first window.
        self._utterance.probabilities.extend([0.0] * len(self._preroll))
        self._next_index += 1
        self._preroll.clear()
        self._onset = 0

    def _end_utterance(self, arrived_at: float, forced: bool = False) -> None:
        utterance = self._utterance
        trailing = max(0, utterance.silence_frames - _TAIL_FRAMES)
        speech_end = (
            utterance.start_sample
            + utterance.committed_samples
            + (len(utterance.frames) - utterance.silence_frames) * FRAME_SAMPLES
        )
        speculation = None
        if not forced and utterance.speculation is not None:
            speculation = utterance.speculation
            metrics.SPECULATIONS.labels(outcome="used").inc()
        else:
            self._abandon_speculation(utterance)
        audio = utterance.audio(drop_last=trailing)
        self._queued_for_decode(audio.size)
        self._finals.append(
            _DecodeJob(utterance, audio, arrived_at, speculation, utterance.committed_samples)
        )
        self._utterance = None
        self._wake.set()
        if forced:
            self._open_utterance(utterance.start_sample + utterance.total_samples)
        else:
            self._emit_event(asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED, speech_end / SAMPLE_RATE)

    async def finish(self, summarise: Callable[[], Awaitable[str]] | None = None) -> None:
        """The client half-closed: finalise what is open, wait for every final, summarise.
        `summarise` (the LLM's summary, with insights) is awaited only after the last final
        is out, so whatever it takes holds back nothing but the summary itself."""
        tail = self._converter.flush()
        if tail.size:
            self._consume(tail, time.perf_counter())
        await self.drain()
        if self.failure is not None:
            raise self.failure
        summary = asr_pb2.StreamSummary(
            transcript=" ".join(text for text in self._transcripts if text),
            audio_seconds=self.audio_seconds,
            utterance_count=len(self._transcripts),
            word_count=self._word_count,
        )
        if summarise is not None:
            summary.summary = await summarise()
        self._send(asr_pb2.StreamingRecognizeResponse(summary=summary))

    async def drain(self) -> None:
        """Finalises the open utterance and waits until every final result is out."""
        if self._utterance is not None:
            if self._pending.size:
                self._utterance.frames.append(self._pending)
                self._utterance.probabilities.append(0.0)
                self._pending = np.zeros(0, dtype=np.float32)
            self._utterance.silence_frames = 0
            self._end_utterance(time.perf_counter())
        self._closing = True
        self._wake.set()
        await self._decoder

    def cancel(self) -> None:
        self._decoder.cancel()
        for job in self._finals:
            _cancel_decodes(job.utterance)
            if job.speculation is not None:
                job.speculation.cancel()
        if self._utterance is not None:
            _cancel_decodes(self._utterance)
            self._abandon_speculation(self._utterance)

    async def _decode_loop(self) -> None:
        """Never raises: a failure of its own is kept in `failure` and ends the responses,
        so the RPC ends with INTERNAL instead of waiting for results that cannot come."""
        try:
            while True:
                if self._finals:
                    job = self._finals.popleft()
                    try:
                        await self._finalize(job)
                    finally:
                        self._done_decoding(job.audio.size)
                elif self._interim is not None:
                    job, self._interim = self._interim, None
                    await self._interim_result(job)
                elif self._closing:
                    return
                else:
                    self._wake.clear()
                    await self._wake.wait()
        except Exception as error:
            log.exception("asr stream decode loop failed", session_id=self._config.session_id)
            metrics.STREAM_FAILURES.labels(scope="stream").inc()
            self.failure = StreamFailed(
                f"the stream's decoder failed ({_describe(error)}); the audio after the last "
                "final result was not transcribed: open a new stream to go on"
            )
            self._decoded.set()  # a reader waiting for the decoder stops waiting
            self.responses.put_nowait(None)

    async def _finalize(self, job: _DecodeJob) -> None:
        utterance = job.utterance
        try:
            # Each piece was decoded on its own window; the utterance's result joins them.
            parts = [(piece.offset_samples, await piece.decode) for piece in utterance.pieces]
            if job.speculation is not None:
                parts.append((job.offset_samples, await job.speculation))
            elif job.audio.size or not parts:  # a cut can leave nothing after the last piece
                parts.append((job.offset_samples, await self._decode_final(job.audio)))
        except Exception as error:
            self._fail_utterance(job, error)
            return
        options = self._config.options
        text = " ".join(
            segment.text.strip() for _, (segments, _) in parts for segment in segments
        ).strip()
        if not text and not utterance.interims_sent:
            return  # the VAD heard something that was not words
        info = parts[-1][1][1]
        if options.language is None:
            self._language = info.language
        offset = utterance.start_sample / SAMPLE_RATE
        words = [
            word
            for part_offset, (segments, _) in parts
            for word in words_of(segments, offset + part_offset / SAMPLE_RATE)
        ]
        result = asr_pb2.StreamingRecognitionResult(
            transcript=text,
            is_final=True,
            stability=1.0,
            utterance_index=utterance.index,
            start_seconds=offset,
            end_seconds=offset + (job.offset_samples + job.audio.size) / SAMPLE_RATE,
            words=words,
            language=info.language,
        )
        if text:
            self._transcripts.append(text)
            self._word_count += len(words) if words else len(text.split())
        metrics.FINAL_LATENCY.observe(time.perf_counter() - job.arrived_at)
        self._send(asr_pb2.StreamingRecognizeResponse(results=[result]))
        for hook in self.on_final:
            try:
                hook(result)
            except Exception:
                # A hook (insights) is an extra: its failure costs it, not the transcript.
                log.exception("asr final-result hook failed", session_id=self._config.session_id)

    def _fail_utterance(self, job: _DecodeJob, error: Exception) -> None:
        """An utterance whose decode failed gets a final result that says so; the stream
        goes on with the next one."""
        utterance = job.utterance
        log.error(
            "asr utterance decode failed",
            session_id=self._config.session_id,
            utterance_index=utterance.index,
            exc_info=error,
        )
        metrics.STREAM_FAILURES.labels(scope="utterance").inc()
        _cancel_decodes(utterance)
        offset = utterance.start_sample / SAMPLE_RATE
        result = asr_pb2.StreamingRecognitionResult(
            is_final=True,
            stability=1.0,
            utterance_index=utterance.index,
            start_seconds=offset,
            end_seconds=offset + (job.offset_samples + job.audio.size) / SAMPLE_RATE,
            error=f"this utterance could not be transcribed ({_describe(error)}); the "
            "stream goes on with the next one",
        )
        self._send(asr_pb2.StreamingRecognizeResponse(results=[result]))

    async def _interim_result(self, job: _DecodeJob) -> None:
        utterance = job.utterance
        # Interims take a slot only when one is free: waiting in line for one would hold this
        # stream's decode loop, and with it the finals queued behind, for a hypothesis that is
        # stale by the time it runs.
        if self._superseded(job) or self._scheduler.busy:
            metrics.SKIPPED_INTERIMS.inc()
            return
        options = replace(self._config.options, language=self._language)
        try:
            async with self._scheduler.slot(Priority.INTERIM):
                if self._superseded(job):
                    metrics.SKIPPED_INTERIMS.inc()
                    return
                segments, info = await self._scheduler.run(
                    lambda: self._engine.transcribe_utterance(job.audio, options, interim=True)
                )
        except Overloaded:
            metrics.SKIPPED_INTERIMS.inc()
            return
        except Exception:
            # An interim is superseded within half a second anyway; the final reports a
            # failure that is not a one-off.
            log.warning(
                "asr interim decode failed", session_id=self._config.session_id, exc_info=True
            )
            metrics.STREAM_FAILURES.labels(scope="interim").inc()
            return
        if self._superseded_by_final(job):
            # The final is on its way; an older hypothesis would only flicker.
            metrics.SKIPPED_INTERIMS.inc()
            return
        text = " ".join(
            [_piece_text(piece) for piece in utterance.pieces]
            + [segment.text.strip() for segment in segments]
        ).strip()
        if not text:
            return
        words = text.split()
        stability = _stable_prefix(utterance.last_interim_words, words) / len(words)
        utterance.last_interim_words = words
        utterance.interims_sent += 1
        offset = utterance.start_sample / SAMPLE_RATE
        result = asr_pb2.StreamingRecognitionResult(
            transcript=text,
            is_final=False,
            stability=stability,
            utterance_index=utterance.index,
            start_seconds=offset,
            end_seconds=offset + (job.offset_samples + job.audio.size) / SAMPLE_RATE,
            language=info.language,
        )
        metrics.INTERIM_LATENCY.observe(time.perf_counter() - job.arrived_at)
        self._send(asr_pb2.StreamingRecognizeResponse(results=[result]))

    def _superseded(self, job: _DecodeJob) -> bool:
        """A final for this utterance is queued or done, or newer audio asked for an interim."""
        return self._superseded_by_final(job) or self._interim is not None

    def _superseded_by_final(self, job: _DecodeJob) -> bool:
        """A final for this utterance is queued or done, or a piece was cut off the audio
        the interim decodes (its text would show twice)."""
        return (
            self._utterance is not job.utterance
            or job.utterance.committed_samples != job.offset_samples
        )

    def _emit_event(self, kind: asr_pb2.SpeechEventType, offset: float) -> None:
        event = asr_pb2.SpeechEvent(type=kind, offset_seconds=max(0.0, offset))
        self._send(asr_pb2.StreamingRecognizeResponse(speech_event=event))

    def send_insight(self, insight: asr_pb2.Insight) -> None:
        """Each insight travels in a response of its own, queued behind whatever results
        are already out: it never rides on, or holds back, a transcript result."""
        self._send(asr_pb2.StreamingRecognizeResponse(insight=insight))

    def _send(self, response: asr_pb2.StreamingRecognizeResponse) -> None:
        response.session_id = self._config.session_id
        self.responses.put_nowait(response)


def _piece_text(piece: _Piece) -> str:
    """A piece's text if it is decoded by now ("" if not yet, or if it failed: the final
    will say)."""
    if not piece.decode.done() or piece.decode.cancelled() or piece.decode.exception():
        return ""
    segments, _ = piece.decode.result()
    return " ".join(segment.text.strip() for segment in segments).strip()


def _cancel_decodes(utterance: _Utterance) -> None:
    for piece in utterance.pieces:
        piece.decode.cancel()
    if utterance.speculation is not None:
        utterance.speculation.cancel()


def _describe(error: Exception) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 300 else text[:297] + "..."


def _stable_prefix(previous: list[str], current: list[str]) -> int:
    stable = 0
    for before, now in zip(previous, current, strict=False):
        if before.strip(".,!?").lower() != now.strip(".,!?").lower():
            break
        stable += 1
    return stable
