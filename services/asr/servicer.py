"""gRPC face of the ASR engine: paneas.asr.v1.AsrService."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import grpc
import structlog

from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.services.asr import metrics
from paneas.services.asr.alignment import Aligner
from paneas.services.asr.audio import SAMPLE_RATE, check_pcm_format, decode_file
from paneas.services.asr.diarization import SpeakerEngine
from paneas.services.asr.engine import WhisperEngine
from paneas.services.asr.errors import (
    AsrError,
    InsightsDisabled,
    InvalidRequest,
    StreamFailed,
)
from paneas.services.asr.file_diarization import FileDiarization, diarization_request
from paneas.services.asr.file_diarization import label as label_speakers
from paneas.services.asr.file_diarization import summary as speakers_summary
from paneas.services.asr.files import transcribe_file
from paneas.services.asr.insights import InsightClient, InsightWorker
from paneas.services.asr.scheduler import DecodeScheduler, Priority
from paneas.services.asr.settings import AsrSettings
from paneas.services.asr.speakers import KnownVoice, LiveVoices, SpeakerOptions
from paneas.services.asr.streaming import LiveStream, StreamConfig
from paneas.services.runtime import wire
from paneas.services.runtime.errors import abort

log = structlog.get_logger()

# How long a refused stream's audio is still read (and dropped) before the refusal. A client
# that sends faster than the call takes audio has a write in flight when the call ends, and
# grpc-python's client then reports that write's failure ("Internal error from Core") instead
# of the refusal. Clients that send in real time never wait on a write; a fast one stops
# within this, or half-closes.
_REFUSAL_GRACE_SECONDS = 1.0


class AsrServicer(asr_pb2_grpc.AsrServiceServicer):
    def __init__(
        self,
        engine: WhisperEngine,
        scheduler: DecodeScheduler,
        settings: AsrSettings,
        insights: InsightClient | None = None,
        speakers: SpeakerEngine | None = None,
    ) -> None:
        self._engine = engine
        self._scheduler = scheduler
        self._settings = settings
        self._insights = insights
        # Nothing is loaded until a request asks for speaker labels.
        self._speakers = speakers or SpeakerEngine(settings)
        # Live streams' utterance voices, on a thread of their own (no thread until used).
        self._live_voices = LiveVoices(self._speakers)

    async def Recognize(
        self, request: asr_pb2.RecognizeRequest, context: grpc.aio.ServicerContext
    ) -> asr_pb2.RecognizeResponse:
        try:
            response = asr_pb2.RecognizeResponse(model=self._engine.model_name)

            def decoded(seconds: float) -> None:
                # Exact once the whole file is decoded (the header may carry the container's).
                response.duration_seconds = seconds

            diarization = await self._diarization(request.config)
            async for step in self._recognize(request.config, request.audio, decoded, diarization):
                if isinstance(step, asr_pb2.Segment):
                    response.segments.append(step)
                else:
                    response.language = step.language
                    response.language_probability = step.language_probability
                    response.duration_seconds = step.duration_seconds
            response.text = " ".join(s.text for s in response.segments if s.text)
            if diarization is not None:
                speakers = await diarization.finish()
                label_speakers(response.segments, speakers)
                response.diarization.CopyFrom(speakers_summary(speakers))
            return response
        except AsrError as error:
            await abort(context, error)

    async def RecognizeStream(
        self, request: asr_pb2.RecognizeStreamRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[asr_pb2.RecognizeStreamResponse]:
        try:
            diarization = await self._diarization(request.config)
            if diarization is not None:
                async for response in self._recognize_diarized(request, diarization):
                    yield response
                return
            first: asr_pb2.RecognizeStreamResponse | None = None
            async for step in self._recognize(request.config, request.audio):
                if isinstance(step, asr_pb2.Segment):
                    if first is not None:
                        first.segment.CopyFrom(step)
                        yield first
                        first = None
                    else:
                        yield asr_pb2.RecognizeStreamResponse(segment=step)
                else:
                    first = step
            if first is not None:  # no speech at all: still say what was heard
                yield first
        except AsrError as error:
            await abort(context, error)

    async def _recognize_diarized(
        self, request: asr_pb2.RecognizeStreamRequest, diarization: FileDiarization
    ) -> AsyncIterator[asr_pb2.RecognizeStreamResponse]:
        """RecognizeStream with speaker labels: the segments are held until the whole file is
        heard and its speakers known (a segment is a few hundred bytes), then sent as without
        labels, and the speakers' summary on one last response without a segment."""
        header: asr_pb2.RecognizeStreamResponse | None = None
        segments: list[asr_pb2.Segment] = []
        async for step in self._recognize(request.config, request.audio, None, diarization):
            if isinstance(step, asr_pb2.Segment):
                segments.append(step)
            else:
                header = step
        speakers = await diarization.finish()
        label_speakers(segments, speakers)
        for number, segment in enumerate(segments):
            if number == 0 and header is not None:
                header.segment.CopyFrom(segment)
                yield header
            else:
                yield asr_pb2.RecognizeStreamResponse(segment=segment)
        if not segments and header is not None:
            yield header
        yield asr_pb2.RecognizeStreamResponse(diarization=speakers_summary(speakers))

    async def _diarization(self, config: asr_pb2.RecognitionConfig) -> FileDiarization | None:
        """The file's diarization when the request asks for it, its options checked and its
        known voices embedded before any of the file is decoded."""
        request = diarization_request(config.diarization, self._settings)
        if request is None:
            return None
        diarization = FileDiarization(self._speakers, self._scheduler, request)
        await diarization.prepare()
        return diarization

    async def _recognize(
        self,
        config: asr_pb2.RecognitionConfig,
        audio_bytes: bytes,
        on_decoded: Callable[[float], None] | None = None,
        diarization: FileDiarization | None = None,
    ) -> AsyncIterator[asr_pb2.RecognizeStreamResponse | asr_pb2.Segment]:
        """Yields the header (language, duration) then each segment as it is decoded:
        admitted before any decoding, decoded window by window (`files.py`)."""
        options = self._engine.options_of(config)
        async for step in transcribe_file(
            self._engine,
            self._scheduler,
            self._settings,
            audio_bytes,
            options,
            on_decoded,
            multichannel=config.multichannel,
            on_window=diarization.on_window if diarization is not None else None,
        ):
            yield step

    async def StreamingRecognize(
        self,
        request_iterator: AsyncIterator[asr_pb2.StreamingRecognizeRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[asr_pb2.StreamingRecognizeResponse]:
        try:
            config = await self._stream_config(request_iterator, context)
            self._scheduler.admit_stream()
        except AsrError as error:
            await _discard_requests(request_iterator, _REFUSAL_GRACE_SECONDS)
            await abort(context, error)
            return
        session = LiveStream(self._engine, self._scheduler, config, self._live_voices)
        insights = self._insight_worker(config, session)
        failure: list[AsrError] = []
        pump = asyncio.create_task(self._pump(request_iterator, session, failure, insights))
        try:
            while (response := await session.responses.get()) is not None:
                yield response
            # A client's error first; else the decode loop's own, if it failed.
            if error := failure[0] if failure else session.failure:
                # Stop reading the client's audio before the call ends, so that reading it
                # does not race the status.
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)
                await abort(context, error)
        finally:
            # Normal end, error, or the client went away: free everything now, and stop
            # reading requests before the call is gone.
            pump.cancel()
            session.cancel()
            self._scheduler.release_stream()
            closing = [pump] if insights is None else [pump, insights.close()]
            await asyncio.gather(*closing, return_exceptions=True)

    def _insight_worker(self, config: StreamConfig, session: LiveStream) -> InsightWorker | None:
        if not config.insights or self._insights is None:
            return None
        worker = InsightWorker(
            self._insights, self._settings, session.send_insight, config.session_id
        )
        session.on_final.append(worker.on_final)
        return worker

    async def _stream_config(
        self,
        request_iterator: AsyncIterator[asr_pb2.StreamingRecognizeRequest],
        context: grpc.aio.ServicerContext,
    ) -> StreamConfig:
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("streaming_request") != "streaming_config":
            raise InvalidRequest(
                "the first message of a stream must carry streaming_config; send the config, "
                "then audio"
            )
        streaming = first.streaming_config
        settings = self._settings
        endpointing = streaming.endpointing
        if endpointing.silence_duration_ms < 0 or endpointing.max_utterance_ms < 0:
            raise InvalidRequest("endpointing durations must be positive (0 = default)")
        if streaming.config.multichannel:
            raise InvalidRequest(
                "multichannel is for files (Recognize, RecognizeStream); a live stream mixes "
                "its audio_channel_count channels down: open one stream per channel instead"
            )
        sample_rate = streaming.sample_rate_hertz or SAMPLE_RATE
        channels = streaming.audio_channel_count or 1
        check_pcm_format(sample_rate, channels)
        if streaming.enable_insights and self._insights is None:
            raise InsightsDisabled(
                "LLM insights are off on this ASR instance: set ASR_LLM_TARGET to the LLM "
                "service's address (host:port) to enable them, or stream without enable_insights"
            )
        speakers = await self._stream_speakers(streaming.config.diarization)
        session_id = streaming.session_id or _metadata(context, wire.SESSION_ID) or uuid.uuid4().hex
        return StreamConfig(
            options=self._engine.options_of(streaming.config),
            session_id=session_id,
            sample_rate=sample_rate,
            channels=channels,
            float32=streaming.encoding == asr_pb2.AUDIO_ENCODING_PCM_F32LE,
            interim_results=streaming.interim_results,
            silence_ms=endpointing.silence_duration_ms or settings.silence_duration_ms,
            max_utterance_ms=endpointing.max_utterance_ms or settings.max_utterance_ms,
            interim_interval_ms=settings.interim_interval_ms,
            vad_threshold=settings.vad_threshold,
            max_chunk_bytes=settings.max_chunk_bytes,
            max_stream_seconds=settings.max_stream_seconds,
            insights=streaming.enable_insights,
            speakers=speakers,
            context_seconds=settings.live_context_seconds,
        )

    async def _stream_speakers(self, config: asr_pb2.DiarizationConfig) -> SpeakerOptions | None:
        """A stream's speaker labels: its options checked as a file's, the speaker models
        loaded and its known voices embedded, all before it takes any audio."""
        request = diarization_request(config, self._settings)
        if request is None:
            return None
        known = FileDiarization(self._speakers, self._scheduler, request)
        await known.prepare()
        return SpeakerOptions(
            threshold=self._settings.diarization_live_threshold,
            max_speakers=request.max_speakers,
            known=tuple(
                KnownVoice(voice.label, voice.embedding, voice.speech_seconds)
                for voice in known.known
            ),
        )

    async def _pump(
        self,
        request_iterator: AsyncIterator[asr_pb2.StreamingRecognizeRequest],
        session: LiveStream,
        failure: list[AsrError],
        insights: InsightWorker | None,
    ) -> None:
        """Feeds the client's audio to the session; on half-close or a bad message, every
        utterance heard so far still gets its final result before the stream ends. Always
        ends the responses, so no stream waits forever: an unexpected failure here ends the
        RPC with INTERNAL."""
        try:
            async for request in request_iterator:
                if request.WhichOneof("streaming_request") != "audio":
                    raise InvalidRequest(
                        "streaming_config may only be sent once, as the first message; "
                        "send audio after it"
                    )
                session.accept_audio(request.audio)
                # Faster than the decoder: read no more until it catches up (flow control
                # slows the client down instead of this process holding its audio).
                await session.wait_for_decoder()
            await session.finish(insights.closing_summary if insights is not None else None)
        except AsrError as error:
            failure.append(error)
            await session.drain()
        except grpc.aio.AbortError:
            raise  # the call is ending already
        except Exception as error:
            log.exception("asr stream failed", session_id=session.session_id)
            metrics.STREAM_FAILURES.labels(scope="stream").inc()
            failure.append(
                StreamFailed(
                    f"the stream failed ({type(error).__name__}: {error}); open a new stream "
                    "to go on"
                )
            )
            await session.drain()
        finally:
            session.responses.put_nowait(None)

    async def Align(
        self, request: asr_pb2.AlignRequest, context: grpc.aio.ServicerContext
    ) -> asr_pb2.AlignResponse:
        try:
            if not request.transcript.strip():
                raise InvalidRequest("the transcript is empty; send the text spoken in the audio")
            self._engine.check_model(request.model)
            language = self._engine.language_of(request.language)
            aligner = Aligner(self._engine.model)
            # Admitted before decoding; alignment needs the whole file, so its own limit.
            async with self._scheduler.slot(Priority.BATCH):
                audio = await self._scheduler.run(
                    lambda: decode_file(
                        request.audio, self._settings.max_align_seconds, "ASR_MAX_ALIGN_SECONDS"
                    )
                )
                if language is None:
                    language = await self._scheduler.run(lambda: aligner.detect_language(audio))
                response = await self._scheduler.run(
                    lambda: aligner.align(audio, request.transcript, language)
                )
            metrics.AUDIO_SECONDS.labels(rpc="align").inc(response.duration_seconds)
            return response
        except AsrError as error:
            await abort(context, error)


async def _discard_requests(request_iterator: AsyncIterator, seconds: float) -> None:
    with contextlib.suppress(Exception):  # best effort: the refusal follows anyway
        async with asyncio.timeout(seconds):
            async for _ in request_iterator:
                pass


def _next(segments: Iterator):
    return next(segments, None)


def _metadata(context: grpc.aio.ServicerContext, key: str) -> str:
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value
    return ""
