"""TTS fixtures: a stub on the suite's real TTS service, and decoding what it sends back."""

import io

import av
import numpy as np
import pytest

from paneas.tts.v1 import tts_pb2, tts_pb2_grpc


@pytest.fixture(scope="session")
def tts(tts_channel) -> tts_pb2_grpc.TtsServiceStub:
    return tts_pb2_grpc.TtsServiceStub(tts_channel)


def decode(data: bytes, audio_format: int, sample_rate: int) -> tuple[np.ndarray, int]:
    """Mono float samples and their rate, decoded back with PyAV (FFmpeg) like a client would."""
    options = {}
    if audio_format == tts_pb2.AUDIO_FORMAT_PCM:
        options = {
            "format": "s16le",
            "options": {"sample_rate": str(sample_rate), "ch_layout": "mono"},
        }
    with av.open(io.BytesIO(data), **options) as container:
        stream = container.streams.audio[0]
        frames = [frame for frame in container.decode(stream)]
    assert frames, "no audio decoded"
    rate = frames[0].sample_rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    samples = [
        out.to_ndarray().reshape(-1) for frame in frames for out in resampler.resample(frame)
    ]
    return np.concatenate(samples), rate


def duration_of(data: bytes, audio_format: int, sample_rate: int) -> float:
    samples, rate = decode(data, audio_format, sample_rate)
    return samples.size / rate


def codec_slack(audio_format: int, rate: int) -> float:
    """How much longer than the audio a decoder's output may be: ADTS cannot signal AAC's
    1024-sample priming nor the last frame's padding, and a streamed mp3 has no Xing frame
    to trim LAME's delay and padding by; the PCM formats, FLAC and Opus are exact."""
    frames = {tts_pb2.AUDIO_FORMAT_AAC: 3 * 1024, tts_pb2.AUDIO_FORMAT_MP3: 2 * 1152}
    return frames.get(audio_format, 0) / rate + 0.02
