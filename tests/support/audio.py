"""The audio plumbing tests need around the speech clips (`paneas.services.asr.evaluation`):
decoding to what Whisper takes, encoding in the formats clients send."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from faster_whisper import decode_audio

from paneas.services.asr.evaluation import sample_path


def load_float32_16k(source: str | Path | bytes) -> np.ndarray:
    """Any format FFmpeg reads, as the 16 kHz mono float32 that Whisper takes."""
    audio = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    return decode_audio(audio, sampling_rate=16000)


# format -> (container, codec, sample rates the codec accepts or None for any).
# The encoders are those PyAV's bundled FFmpeg has (no Debian ffmpeg needed); the containers
# are what clients actually send: browsers' MediaRecorder gives webm/opus, phones m4a/aac.
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
ENCODINGS: dict[str, tuple[str, str, tuple[int, ...] | None]] = {
    "wav": ("wav", "pcm_s16le", None),
    "mp3": ("mp3", "libmp3lame", (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)),
    "ogg": ("ogg", "libopus", _OPUS_RATES),
    "webm": ("webm", "libopus", _OPUS_RATES),
    "m4a": ("ipod", "aac", None),
    "flac": ("flac", "flac", None),
}


def encode_audio(
    source: str | Path | np.ndarray,
    fmt: str,
    sample_rate: int = 16000,
    *,
    source_rate: int = 16000,
) -> bytes:
    """Mono audio in `fmt` (a key of ENCODINGS) at `sample_rate`, encoded in memory.

    `source` is a file FFmpeg reads, or samples (int16, or float in [-1, 1]) at `source_rate`.
    """
    if fmt not in ENCODINGS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(ENCODINGS)}")
    container_format, codec, rates = ENCODINGS[fmt]
    if rates is not None and sample_rate not in rates:
        raise ValueError(f"{codec} cannot encode at {sample_rate} Hz; it takes {rates}")
    out = io.BytesIO()
    with av.open(out, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=sample_rate, layout="mono")
        if codec == "libmp3lame":
            # LAME's own default at 8 kHz is 8 kbit/s, worse than any real recording sent.
            stream.bit_rate = 64000
        # The stream's own resampler (PyAV's) converts rate, layout, sample format and frame
        # size to what the encoder wants. Frames keep real timestamps: from them the AAC muxer
        # writes the edit list that hides the encoder's priming samples (else audio shifts
        # 64 ms late).
        for frame in _frames(source, source_rate):
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


def _frames(source: str | Path | np.ndarray, source_rate: int) -> Iterator[av.AudioFrame]:
    if not isinstance(source, np.ndarray):
        # Restamped from zero: a decoder's own timestamps may start late (an mp3's skipped
        # samples), which would shift the audio in the new file.
        offset = 0
        with av.open(str(source)) as container:
            for frame in container.decode(audio=0):
                frame.pts, frame.time_base = offset, Fraction(1, frame.sample_rate)
                offset += frame.samples
                yield frame
        return
    samples = np.asarray(source)
    if samples.dtype != np.int16:
        samples = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    block = source_rate  # one second a frame; the encoder re-chunks
    for start in range(0, len(samples), block):
        chunk = np.ascontiguousarray(samples[start : start + block]).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
        frame.sample_rate = source_rate
        frame.pts, frame.time_base = start, Fraction(1, source_rate)
        yield frame


def call_recording(parties: Sequence[tuple[str, float]]) -> bytes:
    """A 16 kHz PCM16 WAV with one channel per party, as call recorders write them: party i's
    speech clip (a SAMPLES name) on channel i, starting `offset` seconds in, silence around
    it."""
    clips = [
        (int(offset * 16000), np.clip(load_float32_16k(sample_path(name)), -1.0, 1.0))
        for name, offset in parties
    ]
    length = max(start + clip.size for start, clip in clips) + 8000
    channels = np.zeros((length, len(clips)), dtype=np.int16)
    for number, (start, clip) in enumerate(clips):
        channels[start : start + clip.size, number] = (clip * 32767).astype(np.int16)
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(len(clips))
        file.setsampwidth(2)
        file.setframerate(16000)
        file.writeframes(channels.tobytes())
    return out.getvalue()
