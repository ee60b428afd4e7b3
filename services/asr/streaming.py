"""One live recognition stream: the stream's own VAD, interim and final decodes.

Audio is cut into utterances by `endpointer.py`, on the VAD's speech probability of each
frame: where it hears `silence_ms` of silence, or at the maximum utterance length. Every
utterance is decoded once, whole, for its final result: the same work a file gets, so the
final text is as good as batch. While it grows, greedy interim decodes of the audio so far run
every `interim_interval_ms` of new audio; they are dropped when newer audio or the final
supersedes them, so a busy machine sheds interims, not finals.

No decode covers more than one 30 s window, whatever `max_utterance_ms` is: an utterance that
reaches a window's length is cut at a pause, and that piece is decoded at once while the rest
is spoken; the final joins the pieces. A decode that fails gives its utterance a final result
with `error` set, and the stream goes on; if the stream's decode loop itself fails, the stream
ends with INTERNAL (`failure`).

With speaker labels (`config.speakers`), each utterance's voice is embedded (`speakers.py`)
alongside its final decode: from the first pause with the speculative final, else once it
ends. The final waits for both and takes its `speaker` in utterance order, so labels are given
once and in the order they are heard.
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
from paneas.services.asr.endpointer import (
    Endpointer,
    Event,
    InterimDue,
    PieceCut,
    SpeculationAbandoned,
    SpeculativeFinalDue,
    UtteranceEnded,
    UtteranceStarted,
)
from paneas.services.asr.engine import DecodeOptions, SpokenContext, WhisperEngine
from paneas.services.asr.errors import AudioTooLong, ChunkTooLarge, Overloaded, StreamFailed
from paneas.services.asr.results import words_of
from paneas.services.asr.scheduler import DecodeScheduler, Priority
from paneas.services.asr.speakers import LiveSpeakers, LiveVoices, SpeakerOptions, UtteranceVoice
from paneas.services.asr.vad import FRAME_SAMPLES, StreamingVad

log = structlog.get_logger()

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
    # The client asked for speaker labels on finals (services/asr/speakers.py).
    speakers: SpeakerOptions | None = None
    # Finals this short are decoded after the utterance before them, if it was as short
    # (AsrSettings.live_context_seconds; 0: never).
    context_seconds: float = 0.0


@dataclass(frozen=True)
class _Piece:
    """The start of a long utterance, cut off at a pause and decoded while the rest goes on."""

    offset_samples: int
    decode: asyncio.Task


@dataclass
class _Utterance:
    """An utterance's decodes; its audio is the endpointer's until an event hands it over."""

    index: int
    start_sample: int
    pieces: list[_Piece] = field(default_factory=list)
    # Samples in pieces: an interim of audio after fewer is stale.
    committed_samples: int = 0
    interims_sent: int = 0
    last_interim_words: list[str] = field(default_factory=list)
    # A final decode started at the first pause, in case the pause ends the utterance.
    speculation: asyncio.Task | None = None
    # With speaker labels: the audio of the last piece, so that the voice of an utterance
    # that ends just after a cut still has speech enough; and the speculation's voice.
    last_piece_audio: np.ndarray | None = None
    voice_speculation: asyncio.Task | None = None


@dataclass(frozen=True)
class _DecodeJob:
    utterance: _Utterance
    # The utterance's audio after its pieces, which start `offset_samples` into it.
    audio: np.ndarray
    # When the audio that asked for this decode arrived (perf_counter), for latency metrics.
    arrived_at: float
    speculation: asyncio.Task | None = None
    offset_samples: int = 0
    # With speaker labels: the utterance's voice (an UtteranceVoice), embedded meanwhile.
    voice: asyncio.Task | None = None


class LiveStream:
    """Feed it audio with `accept_audio`, read `responses` until None, `finish` on half-close,
    `cancel` when the client leaves."""

    def __init__(
        self,
        engine: WhisperEngine,
        scheduler: DecodeScheduler,
        config: StreamConfig,
        voices: LiveVoices | None = None,
    ) -> None:
        """`voices` embeds utterances when `config.speakers` asks for labels."""
        self._engine = engine
        self._scheduler = scheduler
        self._config = config
        self.responses: asyncio.Queue[asr_pb2.StreamingRecognizeResponse | None] = asyncio.Queue()
        self._converter = PcmConverter(config.sample_rate, config.channels, config.float32)
        self._vad = StreamingVad()
        self._endpointer = Endpointer(
            vad_threshold=config.vad_threshold,
            silence_ms=config.silence_ms,
            max_utterance_ms=config.max_utterance_ms,
            interim_interval_ms=config.interim_interval_ms if config.interim_results else None,
        )
        # The audio after the last whole frame, which the VAD has not scored yet.
        self._pending = np.zeros(0, dtype=np.float32)
        self._samples_received = 0
        self._utterance: _Utterance | None = None
        self._finals: deque[_DecodeJob] = deque()
        self._interim: _DecodeJob | None = None
        # The last final's utterance index and what it was (audio and text), when short
        # enough to be the next final's context.
        self._previous: tuple[int, SpokenContext] | None = None
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
        self._voices = voices if config.speakers is not None else None
        self._speakers = LiveSpeakers(config.speakers) if self._voices is not None else None
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
            for event in self._endpointer.push(frame, float(probability)):
                self._on_event(event, arrived_at)

    def _on_event(self, event: Event, arrived_at: float) -> None:
        """Turns what the endpointer heard into decode work and speech events."""
        utterance = self._utterance
        match event:
            case UtteranceStarted():
                self._utterance = _Utterance(event.index, event.start_sample)
                if event.speech_start_sample is not None:
                    self._emit_event(
                        asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED,
                        event.speech_start_sample / SAMPLE_RATE,
                    )
            case InterimDue():
                if self._interim is not None:
                    metrics.SKIPPED_INTERIMS.inc()
                self._interim = _DecodeJob(
                    utterance, event.audio, arrived_at, offset_samples=event.offset_samples
                )
                self._wake.set()
            case SpeculativeFinalDue():
                # Its audio is exactly what the final decodes if the pause ends the utterance,
                # so waiting out `silence_ms` costs no extra latency.
                utterance.speculation = asyncio.create_task(
                    self._decode_final(event.audio, utterance)
                )
                # Its voice too: the final then waits for neither longer than it must.
                utterance.voice_speculation = self._embed_voice(utterance, event.audio)
            case SpeculationAbandoned():
                self._abandon_speculation(utterance)
            case PieceCut():
                # Decoded now, at final priority, while the rest of the utterance is spoken.
                decode = asyncio.create_task(self._decode_final(event.audio))
                self._queued_for_decode(event.audio.size)
                decode.add_done_callback(
                    lambda _, samples=event.audio.size: self._done_decoding(samples)
                )
                utterance.pieces.append(_Piece(event.offset_samples, decode))
                if self._voices is not None:
                    utterance.last_piece_audio = event.audio
                utterance.committed_samples = event.offset_samples + event.audio.size
            case UtteranceEnded():
                if utterance.speculation is not None:
                    metrics.SPECULATIONS.labels(outcome="used").inc()
                    voice = utterance.voice_speculation
                else:
                    voice = self._embed_voice(utterance, event.audio)
                utterance.last_piece_audio = None
                self._queued_for_decode(event.audio.size)
                self._finals.append(
                    _DecodeJob(
                        utterance,
                        event.audio,
                        arrived_at,
                        utterance.speculation,
                        event.offset_samples,
                        voice,
                    )
                )
                self._utterance = None
                self._wake.set()
                if event.speech_end_sample is not None:
                    self._emit_event(
                        asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED,
                        event.speech_end_sample / SAMPLE_RATE,
                    )

    def _abandon_speculation(self, utterance: _Utterance) -> None:
        if utterance.speculation is not None:
            utterance.speculation.cancel()
            utterance.speculation = None
            metrics.SPECULATIONS.labels(outcome="abandoned").inc()
        if utterance.voice_speculation is not None:
            # Dropped from the voices' queue if not started yet; else it runs to its end.
            utterance.voice_speculation.cancel()
            utterance.voice_speculation = None

    def _embed_voice(self, utterance: _Utterance, audio: np.ndarray) -> asyncio.Task | None:
        """Starts embedding the voice of the utterance's final `audio` (after its pieces), to
        run while its final is decoded."""
        if self._voices is None:
            return None
        if utterance.last_piece_audio is not None:
            audio = np.concatenate([utterance.last_piece_audio, audio])
        return asyncio.create_task(self._voices.voice(audio))

    async def _speaker(self, job: _DecodeJob) -> str:
        """The label of the utterance `job` finalises, once its voice is embedded; the
        speakers' state moves on with it, so call it once per final, in order."""
        decoded_at = time.perf_counter()
        try:
            try:
                voice = await job.voice
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    raise  # the stream is going away
                raise RuntimeError("its embedding was cancelled") from None
        except Exception:
            # The label is an extra: a failed embedding costs that utterance's voice (it takes
            # the previous speaker's label), not its transcript.
            log.exception(
                "asr live speaker embedding failed",
                session_id=self._config.session_id,
                utterance_index=job.utterance.index,
            )
            metrics.STREAM_FAILURES.labels(scope="speaker").inc()
            voice = UtteranceVoice(None, 0.0)
        metrics.LIVE_SPEAKER_WAIT.observe(time.perf_counter() - decoded_at)
        return self._speakers.assign(voice.embedding, voice.speech_seconds)

    async def _decode_final(self, audio: np.ndarray, utterance: _Utterance | None = None):
        """Decodes a piece, or (with `utterance`) the audio of an utterance after its pieces,
        which a short utterance right after a short final gets as its context."""
        options = self._config.options
        context = None
        if utterance is not None and not utterance.pieces:
            context = self._context_for(utterance.index, audio)
        async with self._scheduler.slot(Priority.FINAL):
            return await self._scheduler.run(
                lambda: self._engine.transcribe_utterance(
                    audio, options, interim=False, context=context
                )
            )

    def _context_for(self, index: int, audio: np.ndarray) -> SpokenContext | None:
        """The previous utterance, if it was the one right before and both are short. Its
        final must be out already: a decode that starts before then goes alone."""
        limit = self._config.context_seconds * SAMPLE_RATE
        if self._previous is None or audio.size > limit:
            return None
        previous_index, context = self._previous
        return context if previous_index == index - 1 else None

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
        arrived_at = time.perf_counter()
        for event in self._endpointer.stop(self._pending):
            self._on_event(event, arrived_at)
        self._pending = np.zeros(0, dtype=np.float32)
        self._closing = True
        self._wake.set()
        await self._decoder

    def cancel(self) -> None:
        self._decoder.cancel()
        for job in self._finals:
            _cancel_decodes(job.utterance)
            if job.speculation is not None:
                job.speculation.cancel()
            if job.voice is not None:
                job.voice.cancel()
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
                parts.append((job.offset_samples, await self._decode_final(job.audio, utterance)))
        except Exception as error:
            self._fail_utterance(job, error)
            return
        options = self._config.options
        text = " ".join(
            segment.text.strip() for _, (segments, _) in parts for segment in segments
        ).strip()
        if not text and not utterance.interims_sent:
            if job.voice is not None:
                job.voice.cancel()
            return  # the VAD heard something that was not words
        # Nobody spoke an empty final: it takes no label, and moves no speaker's voice.
        speaker = await self._speaker(job) if job.voice is not None and text else ""
        if job.voice is not None:
            job.voice.cancel()  # a no-op once done
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
            speaker=speaker,
        )
        if text:
            self._transcripts.append(text)
            self._word_count += len(words) if words else len(text.split())
        short = job.audio.size <= self._config.context_seconds * SAMPLE_RATE
        if text and short and not utterance.pieces:
            self._previous = (utterance.index, SpokenContext(job.audio, text))
        else:
            self._previous = None
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
        if job.voice is not None:
            job.voice.cancel()
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
        # Interims take a slot only when one is free (and another stays free for finals):
        # waiting in line for one would hold this stream's decode loop, and with it the
        # finals queued behind, for a hypothesis that is stale by the time it runs.
        if self._superseded(job) or not self._scheduler.room_for_interim:
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
    if utterance.voice_speculation is not None:
        utterance.voice_speculation.cancel()


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
