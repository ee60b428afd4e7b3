"""How a transcription job cuts a recording into chunks and merges their results
(gateway/jobs/transcription.py): chunks cover the recording end to end, cut in pauses, and
the merged segments are on the recording's timeline, in time order, numbered once."""

import io
import wave

import numpy as np
import pytest

from paneas.asr.v1 import asr_pb2
from paneas.gateway.jobs.transcription import LIMIT_SETTING, Chunk, cut, merge, wav
from paneas.services.asr.audio import SAMPLE_RATE, open_channels
from paneas.services.asr.errors import AudioTooLong, InvalidAudio
from paneas.services.asr.evaluation import sample_path
from tests.support.audio import encode_audio, load_float32_16k


def speech_with_pauses() -> np.ndarray:
    """jfk, beckett, jfk with a second of silence between: about 40 s of real speech."""
    jfk, beckett = load_float32_16k(sample_path("jfk")), load_float32_16k(sample_path("beckett"))
    pause = np.zeros(SAMPLE_RATE, dtype=np.float32)
    return np.concatenate([jfk, pause, beckett, pause, jfk])


def test_chunks_cover_the_recording_end_to_end_and_end_in_quiet():
    audio = speech_with_pauses()
    (recording,) = open_channels(wav(audio), 3600, False, LIMIT_SETTING)
    chunks = list(cut([recording], chunk_seconds=12))
    assert len(chunks) >= 3
    assert chunks[0].offset == 0.0
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert after.offset == pytest.approx(before.offset + before.seconds, abs=1e-6)
        # Each cut is in the quietest 100 ms near the chunk's end, far quieter than speech.
        edge = before.samples[-800:]
        assert np.sqrt(np.mean(edge**2)) < 0.2 * np.sqrt(np.mean(audio**2))
    assert sum(c.seconds for c in chunks) == pytest.approx(audio.size / SAMPLE_RATE, abs=0.01)
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_each_channel_is_cut_on_its_own():
    left = speech_with_pauses()
    right = np.roll(left, 3 * SAMPLE_RATE)
    stereo = np.stack([left, right], axis=1)
    pcm = (stereo * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(2)
        file.setsampwidth(2)
        file.setframerate(SAMPLE_RATE)
        file.writeframes(pcm.tobytes())
    files = open_channels(out.getvalue(), 3600, True, LIMIT_SETTING)
    chunks = list(cut(files, chunk_seconds=20))
    assert {c.channel for c in chunks} == {0, 1}
    for channel in (0, 1):
        mine = [c for c in chunks if c.channel == channel]
        assert sum(c.seconds for c in mine) == pytest.approx(left.size / SAMPLE_RATE, abs=0.01)
    first_right = next(c for c in chunks if c.channel == 1)
    assert np.allclose(first_right.samples[:SAMPLE_RATE], right[:SAMPLE_RATE], atol=1e-4)


def test_the_sync_routes_refusals_hold_for_jobs():
    with pytest.raises(InvalidAudio, match="could not be decoded"):
        open_channels(b"not audio at all" * 100, 3600, False, LIMIT_SETTING)
    long = encode_audio(np.zeros(SAMPLE_RATE * 20, dtype=np.int16), "wav")
    with pytest.raises(AudioTooLong, match="JOBS_MAX_AUDIO_SECONDS"):
        open_channels(long, 10, False, LIMIT_SETTING)


def segment(text: str, start: float, end: float) -> asr_pb2.Segment:
    word = asr_pb2.Word(word=text, start_seconds=start, end_seconds=end)
    return asr_pb2.Segment(text=text, start_seconds=start, end_seconds=end, words=[word])


def response(*segments: asr_pb2.Segment) -> asr_pb2.RecognizeResponse:
    return asr_pb2.RecognizeResponse(
        language="en", language_probability=0.9, model="base", segments=segments
    )


def chunk(channel: int, index: int, offset: float, seconds: float) -> Chunk:
    return Chunk(channel, index, offset, np.zeros(int(seconds * SAMPLE_RATE), np.float32))


def test_merged_segments_are_on_the_recordings_timeline_in_time_order():
    parts = [
        # Stored out of order, as parallel chunks finish.
        (chunk(0, 1, 30.0, 25.0), response(segment(" later", 1.0, 2.5))),
        (chunk(1, 0, 0.0, 30.0), response(segment(" answer", 4.0, 5.0))),
        (chunk(0, 0, 0.0, 30.0), response(segment(" first", 0.5, 2.0), segment(" next", 20, 29))),
        (chunk(1, 1, 30.0, 25.0), response()),
    ]
    merged = merge(parts)
    starts = [(s.text, s.start_seconds, s.end_seconds, s.channel) for s in merged.segments]
    assert starts == [
        (" first", 0.5, 2.0, 0),
        (" answer", 4.0, 5.0, 1),
        (" next", 20.0, 29.0, 0),
        (" later", 31.0, 32.5, 0),
    ]
    assert [s.id for s in merged.segments] == [0, 1, 2, 3]
    assert merged.segments[3].words[0].start_seconds == 31.0
    assert merged.text == "first answer next later"
    assert merged.duration_seconds == 55.0
    assert merged.language == "en"
