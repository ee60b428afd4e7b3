"""Long, highly compressed uploads: admitted before decoding, refused from the container's
stated duration, decoded window by window with the limit enforced as they go. A dedicated
instance (30 min limit, 120 s windows) whose memory is read from /proc while hostile
uploads run against it."""

import asyncio
import io
import threading
import time
from pathlib import Path

import av
import grpc
import numpy as np
import pytest

from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.services.asr.evaluation import flac_of_silence, read_pcm16, sample_path
from paneas.services.processes import ServiceProcess, free_port, grpc_serving, wait_until

LIMIT_SECONDS = 1800
WINDOW_SECONDS = 120
# Before windowed decoding, two concurrent uploads of 30 min (the limit) held ~230 MB of
# float32 each, and the VAD's work over all of it; now a request holds about two windows
# (15 MB) plus the VAD's work over one (~50 MB), one request at a time per decode slot.
# Measured 225-290 MB of growth (the allocator keeps freed windows' pages); the bound sits
# between that and the ~500 MB the whole-file decoding took.
MAX_RSS_GROWTH_MB = 400


@pytest.fixture(scope="module")
def long_file_asr(api_token, tmp_path_factory):
    port = free_port()
    env = {
        "API_TOKENS": api_token,
        "ASR_PORT": str(port),
        "ASR_METRICS_PORT": "0",
        "ASR_MAX_AUDIO_SECONDS": str(LIMIT_SECONDS),
        "ASR_DECODE_WINDOW_SECONDS": str(WINDOW_SECONDS),
        "ASR_WORKERS": "1",
        "ASR_MAX_QUEUE": "4",
        "ASR_CPU_THREADS": "1",
        "ASR_WARMUP": "false",
        "ASR_LLM_TARGET": "",
    }
    service = ServiceProcess(
        "paneas.services.asr", env, tmp_path_factory.mktemp("long-file-asr") / "asr.log"
    )
    target = f"127.0.0.1:{port}"
    wait_until(lambda: grpc_serving(target), "long-file ASR service", service.process, 120)
    # One short request first: the VAD model and the decoder's buffers are allocated once per
    # process, and are not what the tests measure.
    with grpc.insecure_channel(target) as channel:
        asr_pb2_grpc.AsrServiceStub(channel).Recognize(
            asr_pb2.RecognizeRequest(
                audio=sample_path("jfk").read_bytes(),
                config=asr_pb2.RecognitionConfig(vad_filter=True),
            ),
            metadata=(("authorization", f"Bearer {api_token}"),),
            timeout=300,
        )
    yield target, service.process.pid
    service.stop()


@pytest.fixture
async def stub(long_file_asr):
    async with grpc.aio.insecure_channel(
        long_file_asr[0], options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    ) as channel:
        yield asr_pb2_grpc.AsrServiceStub(channel)


def wav_of(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


class PeakRss:
    """Samples a process's resident memory every 20 ms while the block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.baseline = rss_mb(pid)
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> float:
        return self.peak - self.baseline


async def _refusals(stub, auth_metadata, audio: bytes, vad: bool) -> list[grpc.aio.AioRpcError]:
    request = asr_pb2.RecognizeRequest(
        audio=audio, config=asr_pb2.RecognitionConfig(vad_filter=vad)
    )
    outcomes = await asyncio.gather(
        *(stub.Recognize(request, metadata=auth_metadata, timeout=300) for _ in range(2)),
        return_exceptions=True,
    )
    assert all(isinstance(o, grpc.aio.AioRpcError) for o in outcomes), outcomes
    return outcomes


async def test_hours_stated_by_the_container_are_refused_before_decoding(
    stub, long_file_asr, auth_metadata
):
    audio = flac_of_silence(hours=4)
    assert len(audio) < 20 * 1024 * 1024
    with PeakRss(long_file_asr[1]) as memory:
        started = time.monotonic()
        refusals = await _refusals(stub, auth_metadata, audio, vad=True)
        elapsed = time.monotonic() - started
    for refusal in refusals:
        assert refusal.code() == grpc.StatusCode.OUT_OF_RANGE
        assert "14400 s (as its container states)" in refusal.details()
        assert f"{LIMIT_SECONDS} s limit" in refusal.details()
        assert "ASR_MAX_AUDIO_SECONDS" in refusal.details()
    # Nothing decoded: the answer takes what reading a header does (generous for a busy box).
    assert elapsed < 20, elapsed
    assert memory.growth < 100, f"{memory.growth:.0f} MB"


@pytest.mark.slow
async def test_hours_without_a_stated_duration_are_cut_at_the_limit_in_bounded_memory(
    stub, long_file_asr, auth_metadata
):
    audio = flac_of_silence(hours=4, state_duration=False)
    with PeakRss(long_file_asr[1]) as memory:
        refusals = await _refusals(stub, auth_metadata, audio, vad=True)
    for refusal in refusals:
        assert refusal.code() == grpc.StatusCode.OUT_OF_RANGE
        assert f"{LIMIT_SECONDS} s limit" in refusal.details()
        assert "ASR_MAX_AUDIO_SECONDS" in refusal.details()
    assert memory.growth < MAX_RSS_GROWTH_MB, f"{memory.growth:.0f} MB"


@pytest.mark.slow
async def test_speech_after_a_window_boundary_keeps_its_place_on_the_timeline(stub, auth_metadata):
    speech, rate = read_pcm16(sample_path("jfk"))
    assert rate == 16000
    lead_seconds = WINDOW_SECONDS + 15
    audio = np.concatenate([np.zeros(lead_seconds * 16000, dtype=np.int16), speech])
    response = await stub.Recognize(
        asr_pb2.RecognizeRequest(
            audio=wav_of(audio), config=asr_pb2.RecognitionConfig(vad_filter=True)
        ),
        metadata=auth_metadata,
        timeout=300,
    )
    assert "ask not what your country" in response.text.lower()
    assert response.segments[0].start_seconds >= lead_seconds - 2, response.segments[0]
    assert response.duration_seconds == pytest.approx(lead_seconds + speech.size / 16000, abs=0.1)


@pytest.mark.slow
async def test_a_short_file_is_served_between_the_windows_of_a_long_one(stub, auth_metadata):
    long_file = asr_pb2.RecognizeRequest(
        audio=flac_of_silence(hours=0.4), config=asr_pb2.RecognitionConfig(vad_filter=True)
    )
    short_file = asr_pb2.RecognizeRequest(
        audio=sample_path("jfk").read_bytes(), config=asr_pb2.RecognitionConfig(vad_filter=True)
    )
    finished: list[str] = []

    async def recognize(name: str, request):
        response = await stub.Recognize(request, metadata=auth_metadata, timeout=300)
        finished.append(name)
        return response

    long_call = asyncio.ensure_future(recognize("long", long_file))
    await asyncio.sleep(1)  # the long file holds the only decode slot by now
    short = await recognize("short", short_file)
    await long_call
    # One slot: the short file got it after one window of the long one, not after all 12.
    assert finished == ["short", "long"]
    assert "ask not what your country" in short.text.lower()


async def test_recognize_answers_the_decoded_duration_when_the_container_states_none(
    stub, auth_metadata
):
    # Three windows, no duration in the header: the answer's is what was decoded.
    audio = flac_of_silence(hours=0.1, state_duration=False)
    response = await stub.Recognize(
        asr_pb2.RecognizeRequest(audio=audio, config=asr_pb2.RecognitionConfig(vad_filter=True)),
        metadata=auth_metadata,
        timeout=300,
    )
    assert response.duration_seconds == pytest.approx(360, abs=0.1)
    assert not response.segments
