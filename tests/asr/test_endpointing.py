"""Endpointing of a live stream, in process, on a stand-in VAD that hears speech in any loud
frame and a decoder that records what it is given: where utterances open and close, the
events a client sees, and the audio each final decodes (pre-roll, speech, a short tail).
tests/asr/test_stream_session.py drives the same session with the real VAD and speech."""

import asyncio
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from paneas.asr.v1 import asr_pb2
from paneas.services.asr import streaming
from paneas.services.asr.engine import DecodeOptions
from paneas.services.asr.scheduler import DecodeScheduler
from paneas.services.asr.streaming import LiveStream, StreamConfig
from paneas.services.asr.vad import FRAME_SAMPLES

FRAME_SECONDS = FRAME_SAMPLES / 16000  # 32 ms


class LoudnessVad:
    """Speech probability 1 for a loud 32 ms frame, 0 for a quiet one; chunks of any size."""

    def __init__(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)

    def process(self, samples: np.ndarray) -> np.ndarray:
        audio = np.concatenate([self._pending, samples])
        count = audio.size // FRAME_SAMPLES
        self._pending = audio[count * FRAME_SAMPLES :]
        frames = audio[: count * FRAME_SAMPLES].reshape(count, FRAME_SAMPLES)
        return (np.abs(frames).mean(axis=1) > 0.1).astype(np.float32)


class RecordingDecoder:
    """Says "utterance N" for the N-th final decode and keeps how many frames it got."""

    model_name = "recording"

    def __init__(self) -> None:
        self.decoded_frames: list[int] = []

    def transcribe_utterance(self, audio, options, interim, context=None):
        assert not interim, "the stream asked for no interim results"
        assert audio.size % FRAME_SAMPLES == 0
        self.decoded_frames.append(audio.size // FRAME_SAMPLES)
        segment = SimpleNamespace(text=f"utterance {len(self.decoded_frames)}", words=None)
        return [segment], SimpleNamespace(language="en")


def pcm16(*parts: tuple[str, int]) -> bytes:
    """("speech" | "silence", frames) parts as 16 kHz PCM16; speech is a loud square wave."""
    audio = []
    for kind, frames in parts:
        samples = np.zeros(frames * FRAME_SAMPLES, dtype=np.int16)
        if kind == "speech":
            samples[0::2], samples[1::2] = 16384, -16384
        audio.append(samples)
    return np.concatenate(audio).tobytes()


def config(silence_ms: int = 500, max_utterance_ms: int = 30_000) -> StreamConfig:
    return StreamConfig(
        options=DecodeOptions(language="en"),
        session_id="endpointing",
        sample_rate=16000,
        channels=1,
        float32=False,
        interim_results=False,
        silence_ms=silence_ms,
        max_utterance_ms=max_utterance_ms,
        interim_interval_ms=500,
        vad_threshold=0.5,
        max_chunk_bytes=1 << 20,
        max_stream_seconds=3600,
    )


async def stream(audio: bytes, stream_config: StreamConfig, monkeypatch, chunk_bytes=3200):
    """Sends `audio` in chunks (100 ms by default) and half-closes; every response, and the
    decoder. Nothing awaits between chunks, so no decode starts before the half-close: a
    decode begun at a pause and dropped when speech resumes never reaches the decoder."""
    monkeypatch.setattr(streaming, "StreamingVad", LoudnessVad)
    scheduler = DecodeScheduler(slots=1, max_waiting=8, max_streams=1, retry_after=1.0)
    decoder = RecordingDecoder()
    try:
        session = LiveStream(decoder, scheduler, stream_config)
        for offset in range(0, len(audio), chunk_bytes):
            session.accept_audio(audio[offset : offset + chunk_bytes])
        await asyncio.wait_for(session.finish(), 10)
    finally:
        scheduler.close()
    responses = []
    while not session.responses.empty():
        responses.append(session.responses.get_nowait())
    return responses, decoder


def events(responses) -> list[tuple[str, float]]:
    names = {
        asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED: "started",
        asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED: "ended",
    }
    return [
        (names[response.speech_event.type], round(response.speech_event.offset_seconds, 3))
        for response in responses
        if response.HasField("speech_event")
    ]


def finals(responses) -> list[asr_pb2.StreamingRecognitionResult]:
    return [result for response in responses for result in response.results]


def at(frame: int) -> float:
    return round(frame * FRAME_SECONDS, 3)


async def test_utterances_open_on_speech_and_close_after_the_silence(monkeypatch):
    audio = pcm16(
        ("silence", 10),
        ("speech", 1),  # a click: one loud frame opens nothing
        ("silence", 21),
        ("speech", 40),  # frames 32-71
        ("silence", 32),  # 1 s: over the 500 ms endpoint
        ("speech", 20),  # frames 104-123
        ("silence", 40),
    )
    responses, decoder = await stream(audio, config(silence_ms=500), monkeypatch)

    # Speech starts at its first frame (two loud frames in a row confirm it) and ends where
    # it ends, although the stream only knows after 16 frames (512 ms) of silence.
    assert events(responses) == [
        ("started", at(32)),
        ("ended", at(72)),
        ("started", at(104)),
        ("ended", at(124)),
    ]
    # Each final decodes its 10 frames of pre-roll (the last two of them the loud frames that
    # confirmed the speech), the rest of the speech and 6 frames of tail; once each, since
    # the decode started at the first pause is the one used.
    assert decoder.decoded_frames == [8 + 40 + 6, 8 + 20 + 6]
    results = finals(responses)
    assert [result.transcript for result in results] == ["utterance 1", "utterance 2"]
    assert [result.utterance_index for result in results] == [0, 1]
    assert [(round(r.start_seconds, 3), round(r.end_seconds, 3)) for r in results] == [
        (at(24), at(78)),
        (at(96), at(130)),
    ]
    assert responses[-1].summary.utterance_count == 2


async def test_a_pause_shorter_than_the_endpoint_keeps_one_utterance(monkeypatch):
    audio = pcm16(
        ("silence", 12),
        ("speech", 30),  # frames 12-41
        ("silence", 10),  # 320 ms: under the 500 ms endpoint
        ("speech", 30),  # frames 52-81
        ("silence", 40),
    )
    responses, decoder = await stream(audio, config(silence_ms=500), monkeypatch)
    assert events(responses) == [("started", at(12)), ("ended", at(82))]
    # Pre-roll (8 quiet frames), speech, the pause, speech, tail: one final decode.
    assert decoder.decoded_frames == [8 + 30 + 10 + 30 + 6]
    assert len(finals(responses)) == 1


async def test_speech_past_the_longest_utterance_is_cut_without_an_end_event(monkeypatch):
    # 1 s utterances at most: 31 frames (992 ms); speech in frames 12-71.
    audio = pcm16(("silence", 12), ("speech", 60), ("silence", 40))
    responses, decoder = await stream(audio, config(max_utterance_ms=1000), monkeypatch)
    # Each cut opens the next utterance with the very next frame: one start and one end
    # event, three utterances that cover frames 4-77 without a gap or an overlap.
    assert events(responses) == [("started", at(12)), ("ended", at(72))]
    # One decode each (the last one's, begun at its pause, may run before the others').
    assert sorted(decoder.decoded_frames) == [6 + 6, 31, 31]
    results = finals(responses)
    assert [result.utterance_index for result in results] == [0, 1, 2]
    assert [(round(r.start_seconds, 3), round(r.end_seconds, 3)) for r in results] == [
        (at(4), at(35)),
        (at(35), at(66)),
        (at(66), at(78)),
    ]


async def test_the_longest_utterance_reached_in_a_pause_ends_there(monkeypatch):
    # 1 s utterances at most (31 frames): pre-roll from frame 4, speech in frames 12-31, and
    # the limit falls on frame 34, three frames into the pause.
    audio = pcm16(("silence", 12), ("speech", 20), ("silence", 40))
    responses, decoder = await stream(audio, config(max_utterance_ms=1000), monkeypatch)
    # The utterance ends where the speech ended; no second one opens on the silence (it
    # would decode nothing but silence).
    assert events(responses) == [("started", at(12)), ("ended", at(32))]
    assert decoder.decoded_frames == [31]
    assert [result.utterance_index for result in finals(responses)] == [0]


@pytest.mark.parametrize("chunk_bytes", [3200, 1000, 7])
async def test_chunk_sizes_do_not_move_the_endpoints(monkeypatch, chunk_bytes):
    audio = pcm16(("silence", 12), ("speech", 30), ("silence", 40))
    responses, decoder = await stream(audio, config(), monkeypatch, chunk_bytes)
    assert events(responses) == [("started", at(12)), ("ended", at(42))]
    assert decoder.decoded_frames == [8 + 30 + 6]


class GatedDecoder(RecordingDecoder):
    """Decodes only once `gate` is open: a decoder far behind its client."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__()
        self.gate = gate

    def transcribe_utterance(self, audio, options, interim, context=None):
        self.gate.wait(30)
        return super().transcribe_utterance(audio, options, interim)


async def test_a_client_ahead_of_the_decoder_is_read_no_further(monkeypatch):
    monkeypatch.setattr(streaming, "StreamingVad", LoudnessVad)
    monkeypatch.setattr(streaming, "MAX_UNDECODED_SECONDS", 2.0)
    gate = threading.Event()
    decoder = GatedDecoder(gate)
    scheduler = DecodeScheduler(slots=1, max_waiting=64, max_streams=1, retry_after=1.0)
    session = LiveStream(decoder, scheduler, config())
    # 20 utterances of 1 s of speech and 0.6 s of pause: 32 s of audio, sent at once.
    utterance = pcm16(("speech", 31), ("silence", 19))
    accepted = [0]

    async def send_everything() -> None:
        for _ in range(20):
            for offset in range(0, len(utterance), 3200):
                session.accept_audio(utterance[offset : offset + 3200])
                accepted[0] += len(utterance[offset : offset + 3200])
                await session.wait_for_decoder()

    sender = asyncio.create_task(send_everything())
    try:
        await asyncio.sleep(0.5)
        # Each final holds 1.44 s of audio: the third final passes the 2 s limit and the
        # stream stops reading there, not 29 s of audio later.
        assert not sender.done()
        assert accepted[0] / 32_000 <= 4.0, accepted[0] / 32_000
    finally:
        gate.set()
    await asyncio.wait_for(sender, 20)
    await asyncio.wait_for(session.finish(), 20)
    scheduler.close()
    assert len(decoder.decoded_frames) == 20
