"""ASR fixtures: a stub on the suite's real ASR service, and a live-stream driver."""

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np
import pytest

from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.services.asr.evaluation import read_pcm16, sample_path


@pytest.fixture(scope="session")
def asr(asr_channel) -> asr_pb2_grpc.AsrServiceStub:
    return asr_pb2_grpc.AsrServiceStub(asr_channel)


@dataclass
class StreamRun:
    """Everything a stream sent back, with arrival times relative to the first audio."""

    responses: list[asr_pb2.StreamingRecognizeResponse] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)

    @property
    def finals(self) -> list[asr_pb2.StreamingRecognitionResult]:
        return [r for resp in self.responses for r in resp.results if r.is_final]

    @property
    def interims(self) -> list[asr_pb2.StreamingRecognitionResult]:
        return [r for resp in self.responses for r in resp.results if not r.is_final]

    @property
    def events(self) -> list[asr_pb2.SpeechEvent]:
        return [resp.speech_event for resp in self.responses if resp.HasField("speech_event")]

    @property
    def summary(self) -> asr_pb2.StreamSummary | None:
        found = [resp.summary for resp in self.responses if resp.HasField("summary")]
        return found[0] if found else None

    @property
    def final_text(self) -> str:
        return " ".join(r.transcript for r in self.finals)


def pcm16_of(name: str) -> bytes:
    samples, rate = read_pcm16(sample_path(name))
    assert rate == 16000
    return samples.tobytes()


def streaming_config(**overrides) -> asr_pb2.StreamingRecognizeRequest:
    config = asr_pb2.StreamingRecognitionConfig(
        **({"sample_rate_hertz": 16000, "interim_results": True} | overrides)
    )
    return asr_pb2.StreamingRecognizeRequest(streaming_config=config)


async def run_stream(
    stub,
    metadata,
    audio: bytes,
    first: asr_pb2.StreamingRecognizeRequest,
    chunk_bytes: int = 3200,
    seconds_per_chunk: float = 0.0,
) -> StreamRun:
    """Sends `first`, then `audio` in chunks, paced on absolute times when
    `seconds_per_chunk` is set (real time for 100 ms chunks of 16 kHz PCM16 is 0.1)."""
    run = StreamRun()
    started = time.perf_counter()

    async def requests():
        yield first
        for number, offset in enumerate(range(0, len(audio), chunk_bytes)):
            if seconds_per_chunk:
                delay = started + number * seconds_per_chunk - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            yield asr_pb2.StreamingRecognizeRequest(audio=audio[offset : offset + chunk_bytes])

    async for response in stub.StreamingRecognize(requests(), metadata=metadata):
        run.responses.append(response)
        run.arrivals.append(time.perf_counter() - started)
    return run


def stereo_float32_48k(mono_pcm16: bytes) -> bytes:
    """The same audio as a 48 kHz stereo float32 device would send it."""
    samples = np.frombuffer(mono_pcm16, dtype="<i2").astype(np.float32) / 32768
    upsampled = np.interp(
        np.arange(0, samples.size, 16000 / 48000), np.arange(samples.size), samples
    ).astype("<f4")
    return np.repeat(upsampled[:, None], 2, axis=1).tobytes()
