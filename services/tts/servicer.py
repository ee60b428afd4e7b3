"""gRPC face of the engines: paneas.tts.v1.TtsService."""

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import numpy as np

from paneas.services.runtime.admission import Admission
from paneas.services.runtime.errors import abort
from paneas.services.tts import metrics
from paneas.services.tts.encoding import FORMAT_NAMES, SAMPLE_RATES, Encoder, output_rate
from paneas.services.tts.engines.base import EngineError, TtsEngine, VoiceSpec
from paneas.services.tts.errors import (
    AudioTooLarge,
    InvalidRequest,
    NotReady,
    SynthesisFailed,
    TtsError,
)
from paneas.services.tts.settings import TtsSettings
from paneas.services.tts.text import clean, family, normalize, split_sentences
from paneas.services.tts.voices import VoiceCatalogue
from paneas.tts.v1 import tts_pb2, tts_pb2_grpc

SPEED_RANGE = (0.25, 4.0)
# Silence after every sentence but the last: engines trim their own, and sentences synthesised
# one by one would otherwise run into each other.
SENTENCE_PAUSE_SECONDS = 0.2
# Room for a SynthesizeResponse's other fields next to its audio.
_RESPONSE_OVERHEAD = 64 * 1024

Request = tts_pb2.SynthesizeRequest | tts_pb2.StreamSynthesizeRequest


@dataclass
class Job:
    voice: VoiceSpec
    engine: TtsEngine
    language: str
    speed: float
    format: int
    format_name: str
    sample_rate: int
    sentences: list[str]
    characters: int


@dataclass
class Chunk:
    audio: bytes
    text: str
    duration: float


class TtsServicer(tts_pb2_grpc.TtsServiceServicer):
    def __init__(
        self,
        engines: dict[str, TtsEngine],
        workers: Admission,
        settings: TtsSettings,
        max_message_bytes: int = 50 * 1024 * 1024,
    ) -> None:
        self._engines = engines
        self._max_message_bytes = max_message_bytes
        # Set once the engines have loaded (health is NOT_SERVING until then).
        self.catalogue: VoiceCatalogue | None = None
        self._workers = workers
        self._settings = settings

    async def ListVoices(
        self, request: tts_pb2.ListVoicesRequest, context: grpc.aio.ServicerContext
    ) -> tts_pb2.ListVoicesResponse:
        try:
            catalogue = self._ready()
        except TtsError as error:
            await abort(context, error)
        response = tts_pb2.ListVoicesResponse(default_voice=catalogue.default)
        for voice in catalogue.speaking(request.language):
            response.voices.add(
                name=voice.name,
                engine=voice.engine,
                language_codes=voice.languages,
                gender=int(voice.gender),
                natural_sample_rate_hertz=voice.sample_rate,
                aliases=sorted(voice.aliases),
            )
        return response

    async def Synthesize(
        self, request: tts_pb2.SynthesizeRequest, context: grpc.aio.ServicerContext
    ) -> tts_pb2.SynthesizeResponse:
        started = time.perf_counter()
        try:
            job = self._job(request)
            audio: list[bytes] = []
            duration = 0.0
            size = 0
            with self._workers.admit():
                async for chunk in self._synthesize(job, streaming=False):
                    audio.append(chunk.audio)
                    duration += chunk.duration
                    size += len(chunk.audio)
                    if job.format_name == "wav":
                        # Held back until its header can carry the sizes: count samples.
                        size = int(duration * job.sample_rate * 2)
                    if size > self._max_message_bytes - _RESPONSE_OVERHEAD:
                        raise AudioTooLarge(
                            f"the audio is over this service's {self._max_message_bytes} byte "
                            "message limit (GRPC_MAX_MESSAGE_BYTES): use StreamSynthesize, a "
                            "compressed format (mp3, opus, aac), a lower sample rate, a "
                            "faster speed or less text"
                        )
            elapsed = time.perf_counter() - started
            self._observe(job, duration, elapsed, elapsed, "synthesize")
            return tts_pb2.SynthesizeResponse(
                audio=b"".join(audio),
                format=job.format,
                sample_rate_hertz=job.sample_rate,
                duration_seconds=duration,
                voice=job.voice.name,
                characters=job.characters,
                synthesis_seconds=elapsed,
                engine=job.voice.engine,
            )
        except TtsError as error:
            await abort(context, error)

    async def StreamSynthesize(
        self, request: tts_pb2.StreamSynthesizeRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[tts_pb2.StreamSynthesizeResponse]:
        started = time.perf_counter()
        try:
            job = self._job(request)
            offset = 0.0
            first_audio = 0.0
            with self._workers.admit():
                # A client that cancels cancels this generator at its next await: the sentence
                # in progress finishes in its worker, the rest are never started.
                async for index, chunk in _enumerate(self._synthesize(job, streaming=True)):
                    if index == 0:
                        first_audio = time.perf_counter() - started
                    yield tts_pb2.StreamSynthesizeResponse(
                        audio=chunk.audio,
                        format=job.format,
                        sample_rate_hertz=job.sample_rate,
                        sentence_index=index,
                        offset_seconds=offset,
                        voice=job.voice.name,
                        text=chunk.text,
                        duration_seconds=chunk.duration,
                    )
                    offset += chunk.duration
            self._observe(job, offset, time.perf_counter() - started, first_audio, "stream")
        except TtsError as error:
            await abort(context, error)

    def _ready(self) -> VoiceCatalogue:
        if self.catalogue is None:
            raise NotReady("the voices are still loading; retry in a few seconds")
        return self.catalogue

    def _job(self, request: Request) -> Job:
        catalogue = self._ready()
        settings = self._settings
        text = clean(request.text)
        if not text.strip():
            raise InvalidRequest("text is empty; send the text to speak")
        if len(text) > settings.max_text_chars:
            raise InvalidRequest(
                f"text is {len(text)} characters, over this service's limit of "
                f"{settings.max_text_chars} (TTS_MAX_TEXT_CHARS): split it at sentence ends "
                "into several requests"
            )
        speed = request.speed or 1.0
        if not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
            raise InvalidRequest(
                f"speed {speed:g} is out of range: give {SPEED_RANGE[0]}-{SPEED_RANGE[1]} "
                "(1.0 is normal; 0 means 1.0)"
            )
        format_value = request.format or tts_pb2.AUDIO_FORMAT_WAV
        if format_value not in FORMAT_NAMES:
            raise InvalidRequest(
                f"unknown audio format {format_value}; formats: "
                + ", ".join(tts_pb2.AudioFormat.Name(value) for value in FORMAT_NAMES)
            )
        if request.sample_rate_hertz and request.sample_rate_hertz not in SAMPLE_RATES:
            raise InvalidRequest(
                f"sample_rate_hertz {request.sample_rate_hertz} is not supported; give one of "
                f"{', '.join(map(str, SAMPLE_RATES))}, or 0 for the voice's own"
            )
        voice = catalogue.resolve(request.voice)
        language = request.language or voice.languages[0]
        if request.language and family(language) not in {family(c) for c in voice.languages}:
            others = [v.name for v in catalogue.speaking(family(language))]
            raise InvalidRequest(
                f"voice {voice.name} speaks {', '.join(voice.languages)}, not {language}; "
                + (
                    f"voices for {language}: {', '.join(others)}"
                    if others
                    else "no voice here speaks it"
                )
            )
        spoken = (
            text
            if request.disable_normalization or not settings.normalize_text
            else (normalize(text, language))
        )
        sentences = split_sentences(spoken, settings.max_sentence_chars)
        if not sentences:
            raise InvalidRequest("the text has nothing to speak (only punctuation or symbols)")
        format_name = FORMAT_NAMES[format_value]
        return Job(
            voice=voice,
            engine=self._engines[voice.engine],
            language=language,
            speed=speed,
            format=format_value,
            format_name=format_name,
            sample_rate=output_rate(format_name, request.sample_rate_hertz, voice.sample_rate),
            sentences=sentences,
            characters=len(request.text),
        )

    async def _synthesize(self, job: Job, streaming: bool) -> AsyncIterator[Chunk]:
        """Each sentence synthesised and encoded on a worker; the last chunk closes the file."""
        encoder = Encoder(job.format_name, job.voice.sample_rate, job.sample_rate, streaming)
        pause = np.zeros(int(SENTENCE_PAUSE_SECONDS * job.voice.sample_rate), np.float32)
        last = len(job.sentences) - 1
        labels = {"engine": job.voice.engine, "voice": job.voice.name}

        def sentence(index: int) -> Chunk:
            text = job.sentences[index]
            try:
                audio = job.engine.synthesize(text, job.voice, job.language, job.speed)
            except EngineError as error:
                raise SynthesisFailed(str(error)) from error
            if index < last:
                audio = np.concatenate([audio, pause])
            data = encoder.encode(audio)
            if index == last:
                data += encoder.finish()
            return Chunk(data, text, audio.size / job.voice.sample_rate)

        for index in range(len(job.sentences)):
            async with self._workers.slot():
                chunk = await self._workers.run(lambda index=index: sentence(index))
            metrics.SENTENCES.labels(**labels).inc()
            yield chunk

    def _observe(
        self, job: Job, audio_seconds: float, elapsed: float, first_audio: float, rpc: str
    ) -> None:
        labels = {"engine": job.voice.engine, "voice": job.voice.name}
        metrics.CHARACTERS.labels(**labels).inc(job.characters)
        metrics.AUDIO_SECONDS.labels(**labels).inc(audio_seconds)
        if audio_seconds > 0:
            metrics.REAL_TIME_FACTOR.labels(**labels).observe(elapsed / audio_seconds)
        metrics.TIME_TO_FIRST_AUDIO.labels(**labels, rpc=rpc).observe(first_audio)


async def _enumerate(chunks: AsyncIterator[Chunk]) -> AsyncIterator[tuple[int, Chunk]]:
    index = 0
    async for chunk in chunks:
        yield index, chunk
        index += 1
