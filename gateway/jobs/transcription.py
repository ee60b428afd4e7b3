"""A transcription job's work: the recording cut at pauses into chunks, the chunks decoded in
parallel by the ASR instances, the results merged on the recording's timeline.

- Cutting: the worker decodes the stored input itself with the ASR service's own decoder
  (`EncodedFile`, PyAV): 16 kHz mono, or each channel on its own with `multichannel`. Chunks
  are `windows(JOBS_CHUNK_SECONDS)`: each ends at the quietest 100 ms of its last 20 s, a
  pause between words, so no word is split and the service's VAD sees whole utterances. Only
  the chunks in flight (JOBS_CHUNK_CONCURRENCY) and the carry into the next are in memory,
  and a chunk goes out as 16-bit WAV, far below the 50 MB gRPC message limit, so recordings
  of any length up to JOBS_MAX_AUDIO_SECONDS reach the service.
- Fan-out: each chunk is an `AsrService/RecognizeStream` call to GATEWAY_ASR_TARGET (Envoy)
  with its own `x-session-id`, which Envoy's consistent hash spreads over the instances. When
  the language is not given, the first chunk with speech is decoded alone and its language
  is used for the others, as the synchronous route decides one language per file.
- Durability: a chunk's response is stored (`<job>/chunks/<channel>.<index>.pb`) before it
  counts. A task delivered again (worker killed, service busy, storage down) cuts the same
  chunks from the same bytes and decodes only those not stored yet; the merge reads each
  chunk once, so nothing is lost or doubled.
- Merge: segment and word times shifted by the chunk's offset, segments in start-time order
  (then channel), ids renumbered.
- Speakers (`diarize: true`): each chunk is diarized by the service, with labels of its own
  and each speaker's voice (embedding); the stored chunk keeps them, and the merge links the
  chunks' speakers by voice into labels for the whole recording (`speakers.py`), per channel
  with `multichannel`.
- Summary (`summary: true`): the merged transcript goes to the LLM (`summary.py`).
- Progress: stored chunks' seconds plus the decoded part of those in flight, over the
  container's stated duration (or the seconds cut so far), every
  JOBS_PROGRESS_INTERVAL_SECONDS; a record no longer `running` (cancelled) cancels the calls
  in flight and no further chunk is sent.
"""

import asyncio
import io
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
import numpy as np
from sqlalchemy import Row

from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.gateway.jobs import metrics
from paneas.gateway.jobs.protocol import TranscriptionConfig
from paneas.gateway.jobs.settings import JobsSettings
from paneas.gateway.jobs.speakers import relabel
from paneas.gateway.jobs.storage import Storage, input_key, one_chunk
from paneas.gateway.jobs.store import JobStore
from paneas.gateway.jobs.summary import summarise
from paneas.gateway.jobs.work import Cancelled, Done, Failed, call_metadata, grpc_options
from paneas.gateway.settings import GatewaySettings
from paneas.services.asr.audio import SAMPLE_RATE, EncodedFile, open_channels
from paneas.services.asr.errors import AudioTooLong, InvalidAudio
from paneas.services.runtime import wire
from paneas.services.runtime.settings import RuntimeSettings

LIMIT_SETTING = "JOBS_MAX_AUDIO_SECONDS"


def chunk_key(job_id: str, channel: int, index: int) -> str:
    return f"{job_id}/chunks/{channel}.{index}.pb"


@dataclass
class Chunk:
    channel: int
    index: int
    offset: float  # seconds from the recording's start
    samples: np.ndarray = field(repr=False)  # float32, 16 kHz

    @property
    def seconds(self) -> float:
        return self.samples.size / SAMPLE_RATE


def wav(samples: np.ndarray) -> bytes:
    """16-bit mono WAV: what the service decodes fastest, and exact for 16-bit sources."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(SAMPLE_RATE)
        file.writeframes(pcm.tobytes())
    return out.getvalue()


def cut(files: list[EncodedFile], chunk_seconds: float) -> Iterator[Chunk]:
    """Every channel's chunks, channel after channel (lazy: decoded as consumed)."""
    for channel, audio in enumerate(files):
        for index, (offset, samples) in enumerate(audio.windows(chunk_seconds)):
            yield Chunk(channel, index, offset, samples)


def merge(
    parts: list[tuple[Chunk, asr_pb2.RecognizeResponse]], diarized: bool = False
) -> asr_pb2.RecognizeResponse:
    """The chunks' responses as the one response `Recognize` gives for the whole file; when
    `diarized`, with speaker labels linked across the chunks (`speakers.relabel`)."""
    merged = asr_pb2.RecognizeResponse()
    ordered = sorted(parts, key=lambda part: (part[0].channel, part[0].index))
    segments: list[asr_pb2.Segment] = []
    labelled: list[tuple[int, list[asr_pb2.Segment], asr_pb2.Diarization]] = []
    for chunk, response in ordered:
        if response.segments and not merged.language:
            merged.language = response.language
            merged.language_probability = response.language_probability
        merged.model = merged.model or response.model
        chunk_segments = []
        for segment in response.segments:
            shifted = asr_pb2.Segment()
            shifted.CopyFrom(segment)
            shifted.start_seconds += chunk.offset
            shifted.end_seconds += chunk.offset
            for word in shifted.words:
                word.start_seconds += chunk.offset
                word.end_seconds += chunk.offset
            shifted.channel = chunk.channel
            chunk_segments.append(shifted)
        segments += chunk_segments
        labelled.append((chunk.channel, chunk_segments, response.diarization))
    if diarized:
        merged.diarization.CopyFrom(relabel(labelled))
    segments.sort(key=lambda segment: (segment.start_seconds, segment.channel))
    for number, segment in enumerate(segments):
        segment.id = number
    merged.segments.extend(segments)
    merged.text = " ".join(segment.text.strip() for segment in segments if segment.text.strip())
    # Every channel is as long as the recording; chunks of one channel cover it end to end.
    merged.duration_seconds = max(
        (chunk.offset + chunk.seconds for chunk, _ in ordered if chunk.channel == 0), default=0.0
    )
    return merged


class _Progress:
    """What is decoded so far, for the record."""

    def __init__(self, stated_seconds: float | None, channels: int) -> None:
        self._stated = stated_seconds * channels if stated_seconds else None
        self.cut_seconds = 0.0
        self.stored_seconds = 0.0
        self.in_flight: dict[tuple[int, int], float] = {}

    def share(self) -> float:
        total = self._stated or self.cut_seconds
        done = self.stored_seconds + sum(self.in_flight.values())
        return done / total if total else 0.0


async def transcribe_recording(
    job: Row,
    store: JobStore,
    storage: Storage,
    settings: JobsSettings,
    runtime: RuntimeSettings,
) -> Done:
    config = TranscriptionConfig.model_validate_json(job.config)
    data = await storage.read(input_key(job.id))
    try:
        files = await asyncio.to_thread(
            open_channels, data, settings.max_audio_seconds, config.multichannel, LIMIT_SETTING
        )
    except (InvalidAudio, AudioTooLong) as error:
        raise Failed(_code(error), str(error)) from None
    try:
        done = await _Fanout(job.id, store, storage, settings, runtime, config, files).run()
    finally:
        for audio in files:
            audio.close()
    if config.summary:
        text = asr_pb2.RecognizeResponse.FromString(done.result).text
        done.summary, done.summary_error = await summarise(
            job.id, text, settings.summary_timeout_seconds, runtime
        )
    return done


def _code(error: Exception) -> str:
    """The status the service would answer with, as other failures are named."""
    return "out_of_range" if isinstance(error, AudioTooLong) else "invalid_argument"


class _Fanout:
    def __init__(
        self,
        job_id: str,
        store: JobStore,
        storage: Storage,
        settings: JobsSettings,
        runtime: RuntimeSettings,
        config: TranscriptionConfig,
        files: list[EncodedFile],
    ) -> None:
        self.job_id = job_id
        self.store = store
        self.storage = storage
        self.settings = settings
        self.runtime = runtime
        self.config = config.recognition_config()
        # Each channel goes out as a file of its own; the service never sees a stereo chunk.
        self.config.multichannel = False
        self.files = files
        self.progress = _Progress(files[0].stated_seconds, len(files))
        self.parts: list[tuple[Chunk, asr_pb2.RecognizeResponse]] = []
        self.cancelled = asyncio.Event()

    async def run(self) -> Done:
        target = GatewaySettings().asr_target
        options = grpc_options(self.runtime)
        async with grpc.aio.insecure_channel(target, options=options) as channel:
            stub = asr_pb2_grpc.AsrServiceStub(channel)
            decoding = asyncio.create_task(self._decode_all(stub))
            watcher = asyncio.create_task(self._watch(decoding))
            try:
                await decoding
            except asyncio.CancelledError:
                if not self.cancelled.is_set():
                    raise
            finally:
                watcher.cancel()
        if self.cancelled.is_set():
            if await self.store.status(self.job_id) == "cancelled":
                # The canceller deleted the job's files; a chunk stored since then goes too.
                # (A job taken over by another worker keeps its chunks for that worker.)
                await self.storage.delete_prefix(f"{self.job_id}/chunks")
            raise Cancelled
        response = merge(self.parts, self.config.diarization.enable)
        return Done(response.SerializeToString(), response.duration_seconds)

    async def _decode_all(self, stub: asr_pb2_grpc.AsrServiceStub) -> None:
        chunks = cut(self.files, self.settings.chunk_seconds)
        slots = asyncio.Semaphore(self.settings.chunk_concurrency)
        running: list[asyncio.Task] = []
        first = True
        try:
            while True:
                await slots.acquire()
                # A failed chunk stops the job at once (its error is the job's).
                for task in [task for task in running if task.done()]:
                    running.remove(task)
                    task.result()
                try:
                    chunk = await asyncio.to_thread(next, chunks, None)
                except (InvalidAudio, AudioTooLong) as error:
                    raise Failed(_code(error), str(error)) from None
                if chunk is None:
                    slots.release()
                    break
                self.progress.cut_seconds += chunk.seconds
                task = asyncio.create_task(self._chunk(stub, chunk, slots))
                running.append(task)
                if first and not self.config.language:
                    # One language per recording, as `Recognize` decides: the first chunk
                    # with speech is decoded alone, and its language goes to the others.
                    await task
                    first = not self.config.language
            await asyncio.gather(*running)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _chunk(
        self, stub: asr_pb2_grpc.AsrServiceStub, chunk: Chunk, slots: asyncio.Semaphore
    ) -> None:
        key = chunk_key(self.job_id, chunk.channel, chunk.index)
        try:
            try:
                response = asr_pb2.RecognizeResponse.FromString(await self.storage.read(key))
            except FileNotFoundError:
                response = await self._recognize(stub, chunk)
                await self.storage.write(key, one_chunk(response.SerializeToString()))
            if not self.config.language and response.segments:
                self.config.language = response.language
            self.parts.append((chunk, response))
            self.progress.stored_seconds += chunk.seconds
        finally:
            self.progress.in_flight.pop((chunk.channel, chunk.index), None)
            slots.release()

    async def _recognize(
        self, stub: asr_pb2_grpc.AsrServiceStub, chunk: Chunk
    ) -> asr_pb2.RecognizeResponse:
        request = asr_pb2.RecognizeStreamRequest(config=self.config, audio=wav(chunk.samples))
        metadata = (
            *call_metadata(self.runtime, self.job_id),
            # Its own affinity key: Envoy's consistent hash spreads the chunks over instances.
            (wire.SESSION_ID, f"{self.job_id}.{chunk.channel}.{chunk.index}"),
        )
        response = asr_pb2.RecognizeResponse()
        place = (chunk.channel, chunk.index)
        with metrics.CHUNK_SECONDS.labels("transcription").time():
            call = stub.RecognizeStream(
                request, metadata=metadata, timeout=self.settings.asr_timeout_seconds
            )
            try:
                async for step in call:
                    if step.model:  # the first step: what was heard
                        response.language = step.language
                        response.language_probability = step.language_probability
                        response.duration_seconds = step.duration_seconds
                        response.model = step.model
                    if step.HasField("segment"):
                        response.segments.append(step.segment)
                        self.progress.in_flight[place] = step.segment.end_seconds
                    if step.HasField("diarization"):  # the last step: the chunk's speakers
                        response.diarization.CopyFrom(step.diarization)
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                    # The chunk is the service's decoding of a file the worker already read:
                    # what it refuses (a prompt too long, an unknown language) is the config's.
                    raise Failed("invalid_argument", error.details() or "") from None
                raise
        response.text = " ".join(s.text.strip() for s in response.segments if s.text.strip())
        return response

    async def _watch(self, decoding: asyncio.Task) -> None:
        """Every interval: the progress into the record; a record no longer running stops
        the job: no further chunk, and the calls in flight are cancelled."""
        interval = self.settings.progress_interval_seconds
        reported = -1.0
        while True:
            await asyncio.sleep(interval)
            share = self.progress.share()
            if share != reported:
                duration = self.files[0].stated_seconds
                still_running = await self.store.progress(self.job_id, share, duration)
                reported = share
            else:
                still_running = await self.store.status(self.job_id) == "running"
            if not still_running:
                self.cancelled.set()
                decoding.cancel()
                return
