"""Synthesised audio to bytes, with PyAV (FFmpeg), chunk by chunk.

Every format is written as one stream: `Encoder.encode()` takes the next piece of mono float32
audio and returns the bytes that became ready, `finish()` the rest, and the concatenation of
everything returned is one valid file of the format. So streaming and unary synthesis share
one code path, and a client can play (or save) chunks as they come:

- pcm: raw s16le, nothing buffered;
- wav: a streaming header (RIFF and data sizes 0xFFFFFFFF, "until the end", which FFmpeg, SoX
  and browsers accept) when streamed; unary answers get the exact sizes;
- mp3, opus (Ogg), flac, aac (ADTS): FFmpeg's muxer writing into a non-seekable sink with
  packets flushed as they are muxed, so each chunk carries what the encoder has released
  (encoders keep a few ms of look-ahead until `finish()`); unary answers are written whole,
  with the headers only a finished file can have (mp3's Xing frame, FLAC's sample count).

`stretch()` changes tempo without changing pitch (FFmpeg's `atempo`), for speeds an engine
cannot reach by itself.
"""

from __future__ import annotations

import io
import struct
from fractions import Fraction

import av
import numpy as np

from paneas.tts.v1 import tts_pb2

FORMAT_NAMES = {
    tts_pb2.AUDIO_FORMAT_WAV: "wav",
    tts_pb2.AUDIO_FORMAT_PCM: "pcm",
    tts_pb2.AUDIO_FORMAT_MP3: "mp3",
    tts_pb2.AUDIO_FORMAT_OPUS: "opus",
    tts_pb2.AUDIO_FORMAT_FLAC: "flac",
    tts_pb2.AUDIO_FORMAT_AAC: "aac",
}
# format name -> (FFmpeg muxer, encoder, sample format the encoder takes)
_CONTAINERS = {
    "mp3": ("mp3", "libmp3lame", "s16p"),
    "opus": ("ogg", "libopus", "s16"),
    "flac": ("flac", "flac", "s16"),
    "aac": ("adts", "aac", "fltp"),
}
SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
# Opus encodes only these; other requested rates are served at 48 kHz (what every Opus
# decoder outputs anyway), and the response says so.
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_MAX_INT16 = 32767


def output_rate(format_name: str, requested: int, natural: int) -> int:
    rate = requested or natural
    if format_name == "opus" and rate not in OPUS_RATES:
        return 48000
    return rate


def to_int16(audio: np.ndarray) -> np.ndarray:
    return (np.clip(audio, -1.0, 1.0) * _MAX_INT16).astype("<i2")


def wav_header(sample_rate: int, data_bytes: int | None) -> bytes:
    """A 44-byte PCM s16le mono header; `data_bytes=None` writes the streaming form."""
    data_size = 0xFFFFFFFF if data_bytes is None else data_bytes
    riff_size = 0xFFFFFFFF if data_bytes is None else 36 + data_bytes
    return (
        b"RIFF"
        + struct.pack("<I", riff_size)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_size)
    )


class _Sink:
    """A write-only file for FFmpeg: no seek, so muxers never rewrite what was sent."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class Encoder:
    """Encodes mono float32 audio at `input_rate` into `format_name` at `output_rate`."""

    def __init__(
        self, format_name: str, input_rate: int, output_rate: int, streaming: bool = True
    ) -> None:
        self.format_name = format_name
        self.input_rate = input_rate
        self.output_rate = output_rate
        self._streaming = streaming
        self._resampler = (
            av.AudioResampler(format="s16", layout="mono", rate=output_rate)
            if output_rate != input_rate
            else None
        )
        self._pts = 0
        self._header_sent = False
        self._pcm: list[bytes] = []  # unary wav: kept until the sizes are known
        self._container = None
        self._stream = None
        # Streams write into a sink without seek, so nothing sent is rewritten; whole files
        # into a seekable buffer, so muxers finish their headers (mp3's Xing frame with the
        # exact length and padding, FLAC's STREAMINFO with sample count and MD5).
        self._sink = _Sink() if streaming else io.BytesIO()
        if format_name in _CONTAINERS:
            muxer, codec, sample_format = _CONTAINERS[format_name]
            options = {"flush_packets": "1"} if streaming else {}
            if muxer == "ogg" and streaming:
                options["page_duration"] = "20000"  # µs: an Ogg page per Opus packet
            self._container = av.open(
                self._sink, mode="w", format=muxer, options=options, buffer_size=4096
            )
            stream = self._container.add_stream(codec, rate=output_rate)
            stream.layout = "mono"
            stream.format = sample_format
            if format_name in ("mp3", "aac"):
                stream.bit_rate = 64000 if output_rate <= 24000 else 128000
            elif format_name == "opus":
                # Speech: Opus is transparent for one voice well below its 96 kb/s default.
                stream.bit_rate = 32000 if output_rate <= 24000 else 48000
            self._stream = stream
            self._encoder_rate = output_rate
            self._frame_resampler = av.AudioResampler(
                format=sample_format, layout="mono", rate=output_rate
            )

    def _resample(self, samples: np.ndarray | None) -> list[np.ndarray]:
        """int16 samples at the output rate; None flushes the resampler."""
        if self._resampler is None:
            return [] if samples is None else [to_int16(samples)]
        frame = None
        if samples is not None:
            frame = av.AudioFrame.from_ndarray(
                to_int16(samples).reshape(1, -1), format="s16", layout="mono"
            )
            frame.sample_rate = self.input_rate
        return [out.to_ndarray().reshape(-1) for out in self._resampler.resample(frame)]

    def encode(self, audio: np.ndarray) -> bytes:
        return self._push(self._resample(audio))

    def finish(self) -> bytes:
        data = self._push(self._resample(None))
        if self.format_name == "wav" and not self._streaming:
            pcm = b"".join(self._pcm)
            return wav_header(self.output_rate, len(pcm)) + pcm
        if self._container is not None:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
            data += self._sink.take() if self._streaming else self._sink.getvalue()
        return data

    def _push(self, pieces: list[np.ndarray]) -> bytes:
        out = []
        if self.format_name == "wav" and self._streaming and not self._header_sent:
            out.append(wav_header(self.output_rate, None))
            self._header_sent = True
        for samples in pieces:
            if samples.size == 0:
                continue
            if self.format_name in ("pcm", "wav"):
                if self.format_name == "wav" and not self._streaming:
                    self._pcm.append(samples.astype("<i2").tobytes())
                else:
                    out.append(samples.astype("<i2").tobytes())
                continue
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = self.output_rate
            for converted in self._frame_resampler.resample(frame):
                converted.pts = self._pts
                converted.time_base = Fraction(1, self.output_rate)
                self._pts += converted.samples
                for packet in self._stream.encode(converted):
                    self._container.mux(packet)
        if self._container is not None and self._streaming:
            out.append(self._sink.take())
        return b"".join(out)


def stretch(audio: np.ndarray, sample_rate: int, tempo: float) -> np.ndarray:
    """Plays `audio` `tempo` times faster (0.5-100 per atempo stage), same pitch."""
    if abs(tempo - 1.0) < 1e-3 or audio.size == 0:
        return audio
    stages = []
    remaining = tempo
    while remaining < 0.5:
        stages.append(0.5)
        remaining /= 0.5
    stages.append(remaining)
    graph = av.filter.Graph()
    source = graph.add_abuffer(
        format="flt", sample_rate=sample_rate, layout="mono", time_base=Fraction(1, sample_rate)
    )
    node = source
    for stage in stages:
        nxt = graph.add("atempo", f"{stage:.6f}")
        node.link_to(nxt)
        node = nxt
    sink = graph.add("abuffersink")
    node.link_to(sink)
    graph.configure()
    frame = av.AudioFrame.from_ndarray(
        audio.astype(np.float32).reshape(1, -1), format="flt", layout="mono"
    )
    frame.sample_rate = sample_rate
    frame.pts = 0
    frame.time_base = Fraction(1, sample_rate)
    source.push(frame)
    source.push(None)
    out = []
    while True:
        try:
            out.append(sink.pull().to_ndarray().reshape(-1))
        except (av.error.BlockingIOError, av.error.EOFError):
            break
    return np.concatenate(out).astype(np.float32) if out else audio[:0]
