"""The live stream session in this process, with a stand-in decoder: what a stream does with
long utterances and with failures of the service's own.

A live stream never hangs: a failed decode is an error result for its utterance and the
stream goes on; a failed decode loop or audio pump ends the RPC with INTERNAL and a message.
No real input is known to make the decoder raise (the prompt and token limits that used to
are checked up front now), so the decoder here is a stand-in that raises where a test says,
and records what it was asked to decode. Everything around it is real: recorded speech, the
stream's VAD and endpointing, the scheduler, the session, and the servicer behind a gRPC
server in this process.
"""

import asyncio
from dataclasses import replace
from types import SimpleNamespace

import grpc
import pytest

from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.services.asr.engine import DecodeOptions
from paneas.services.asr.scheduler import DecodeScheduler
from paneas.services.asr.servicer import AsrServicer
from paneas.services.asr.settings import AsrSettings
from paneas.services.asr.streaming import LiveStream, StreamConfig
from tests.asr.conftest import pcm16_of, streaming_config

# Shorter than the kept tail of silence, so no final decode starts speculatively and every
# final is decoded exactly once, in order: the stand-in's count is the utterance's index.
SILENCE_MS = 150


class ScriptedDecoder:
    """Says "utterance N" for the N-th final decode; raises for those in `failing`."""

    model_name = "scripted"

    def __init__(self, failing: set[int]) -> None:
        self.failing = failing
        self.finals = 0
        self.final_seconds: list[float] = []

    def options_of(self, config: asr_pb2.RecognitionConfig) -> DecodeOptions:
        return DecodeOptions(language="en")

    def transcribe_utterance(self, audio, options, interim, context=None):
        info = SimpleNamespace(language="en")
        if interim:
            return [], info
        number, self.finals = self.finals, self.finals + 1
        self.final_seconds.append(audio.size / 16000)
        if number in self.failing:
            raise RuntimeError(f"injected failure of final decode {number}")
        return [SimpleNamespace(text=f"utterance {number}", words=None)], info


@pytest.fixture
async def scheduler():
    scheduler = DecodeScheduler(slots=1, max_waiting=8, max_streams=4, retry_after=1.0)
    yield scheduler
    scheduler.close()


def _stream_config() -> StreamConfig:
    return StreamConfig(
        options=DecodeOptions(language="en"),
        session_id="failures",
        sample_rate=16000,
        channels=1,
        float32=False,
        interim_results=False,
        silence_ms=SILENCE_MS,
        max_utterance_ms=30_000,
        interim_interval_ms=500,
        vad_threshold=0.5,
        max_chunk_bytes=1 << 20,
        max_stream_seconds=3600,
    )


async def test_a_failed_decode_is_an_error_result_and_the_stream_goes_on(scheduler):
    decoder = ScriptedDecoder(failing={1})
    session = LiveStream(decoder, scheduler, _stream_config())
    audio = pcm16_of("beckett")  # six short phrases with pauses between them
    for offset in range(0, len(audio), 3200):
        session.accept_audio(audio[offset : offset + 3200])
    await asyncio.wait_for(session.finish(), 30)
    responses = []
    while not session.responses.empty():
        responses.append(session.responses.get_nowait())

    finals = [result for response in responses for result in response.results]
    assert len(finals) >= 3, "beckett should give several utterances"
    assert [result.utterance_index for result in finals] == list(range(len(finals)))
    failed = finals[1]
    assert failed.is_final and not failed.transcript
    assert "injected failure" in failed.error and "goes on" in failed.error
    assert failed.end_seconds > failed.start_seconds
    ok = [result for result in finals if not result.error]
    assert [result.transcript for result in ok] == [
        f"utterance {n}" for n in range(len(finals)) if n != 1
    ]
    assert responses[-1].HasField("summary")
    assert responses[-1].summary.utterance_count == len(ok)


async def test_a_decode_loop_that_dies_mid_stream_ends_the_responses(scheduler, monkeypatch):
    async def broken(self, job):
        raise RuntimeError("injected failure of the decode loop")

    monkeypatch.setattr(LiveStream, "_finalize", broken)
    session = LiveStream(ScriptedDecoder(failing=set()), scheduler, _stream_config())
    audio = pcm16_of("beckett")
    for offset in range(0, len(audio), 3200):
        session.accept_audio(audio[offset : offset + 3200])
    async with asyncio.timeout(10):
        while await session.responses.get() is not None:
            pass
    assert "decoder failed" in str(session.failure)
    assert session.failure.code == grpc.StatusCode.INTERNAL


async def test_no_decode_covers_more_than_one_window(scheduler):
    """53 s of speech with pauses under the 5 s endpointing silence, utterances allowed up to
    2 minutes: one utterance, decoded in pieces cut as each fills a 30 s window."""
    decoder = ScriptedDecoder(failing=set())
    config = replace(_stream_config(), silence_ms=5000, max_utterance_ms=120_000)
    session = LiveStream(decoder, scheduler, config)
    audio = b"".join(pcm16_of(name) for name in ["jfk", "beckett", "jfk", "beckett", "jfk"])
    for offset in range(0, len(audio), 3200):
        session.accept_audio(audio[offset : offset + 3200])
    await asyncio.wait_for(session.finish(), 30)
    responses = []
    while not session.responses.empty():
        responses.append(session.responses.get_nowait())

    assert len(decoder.final_seconds) >= 2
    assert max(decoder.final_seconds) <= 30
    assert sum(decoder.final_seconds) == pytest.approx(len(audio) / 32000, abs=1.5)
    (final,) = [result for response in responses for result in response.results]
    assert final.utterance_index == 0 and not final.error
    assert final.transcript == " ".join(f"utterance {n}" for n in range(decoder.finals))
    assert final.end_seconds == pytest.approx(len(audio) / 32000, abs=1.5)


@pytest.fixture
async def scripted_service(scheduler):
    """AsrService on the stand-in decoder, in this process (so a test can break it)."""
    server = grpc.aio.server()
    servicer = AsrServicer(ScriptedDecoder(failing=set()), scheduler, AsrSettings(max_streams=4))
    asr_pb2_grpc.add_AsrServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield asr_pb2_grpc.AsrServiceStub(channel)
    await server.stop(None)


# Both break once the client has half-closed: a call that ends while the client is still
# writing reports the client's failed write ("Internal error from Core") in this process.
def _break_decode_loop(monkeypatch):
    finalize = LiveStream._finalize

    async def broken(self, job):
        if self._closing:
            raise RuntimeError("injected failure of the decode loop")
        await finalize(self, job)

    monkeypatch.setattr(LiveStream, "_finalize", broken)


def _break_audio_pump(monkeypatch):
    async def broken(self, summarise=None):
        raise RuntimeError("injected failure of the audio pump")

    monkeypatch.setattr(LiveStream, "finish", broken)


@pytest.mark.parametrize(
    ("breaks", "says"),
    [(_break_decode_loop, "decoder failed"), (_break_audio_pump, "stream failed")],
    ids=["decode-loop", "audio-pump"],
)
async def test_a_stream_that_cannot_go_on_ends_internal(
    scripted_service, monkeypatch, breaks, says
):
    breaks(monkeypatch)
    audio = pcm16_of("jfk")[: 32000 * 2]  # "And so my fellow": its final comes at stop
    call = scripted_service.StreamingRecognize()
    async with asyncio.timeout(30):  # it used to wait forever
        await call.write(streaming_config(interim_results=False))
        for offset in range(0, len(audio), 3200):
            await call.write(asr_pb2.StreamingRecognizeRequest(audio=audio[offset : offset + 3200]))
        await call.done_writing()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            while await call.read() is not grpc.aio.EOF:
                pass
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert says in caught.value.details() and "new stream" in caught.value.details()
