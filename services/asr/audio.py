"""Audio in: encoded files decoded with PyAV, raw streamed PCM converted chunk by chunk.

Everything leaves here as mono float32 at Whisper's 16 kHz.
"""

import io

import av
import numpy as np

from paneas.services.asr.errors import AudioTooLong, InvalidAudio

SAMPLE_RATE = 16_000
MIN_STREAM_RATE = 8_000
MAX_STREAM_RATE = 48_000
_FORMATS = "wav, mp3, ogg/opus, webm, m4a, flac"


def decode_file(data: bytes, max_seconds: float) -> np.ndarray:
    """Decodes any container and codec FFmpeg knows, at any sample rate."""
    if not data:
        raise InvalidAudio(f"the audio is empty: send a file ({_FORMATS})")
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, ValueError) as error:
        raise InvalidAudio(
            f"the audio could not be decoded ({error}); send a file FFmpeg reads ({_FORMATS})"
        ) from error
    with container:
        if not container.streams.audio:
            raise InvalidAudio(f"the file has no audio stream; send an audio file ({_FORMATS})")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        max_samples = int(max_seconds * SAMPLE_RATE)
        pieces: list[np.ndarray] = []
        total = 0
        try:
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1))
                    total += out.samples
                if total > max_samples:
                    raise AudioTooLong(
                        f"the audio is longer than the {max_seconds:.0f} s limit; split it "
                        "or use StreamingRecognize"
                    )
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as error:
            if not pieces:
                raise InvalidAudio(
                    f"the audio could not be decoded ({error}); send a file FFmpeg reads "
                    f"({_FORMATS})"
                ) from error
            # A truncated tail (an upload cut short) still leaves decodable audio.
    if not pieces:
        raise InvalidAudio("the audio has no samples; send a file with sound in it")
    return np.concatenate(pieces).astype(np.float32, copy=False)


def check_pcm_format(sample_rate: int, channels: int) -> None:
    if not MIN_STREAM_RATE <= sample_rate <= MAX_STREAM_RATE:
        raise InvalidAudio(
            f"sample_rate_hertz {sample_rate} is out of range: send audio sampled at "
            f"{MIN_STREAM_RATE}-{MAX_STREAM_RATE} Hz (16000 is native)"
        )
    if not 1 <= channels <= 8:
        raise InvalidAudio(f"audio_channel_count {channels} is out of range (1-8)")


class PcmConverter:
    """Turns raw interleaved PCM chunks of any size into 16 kHz mono float32.

    Chunks may split a sample or a frame of channels; the remainder waits for the next
    chunk. The resampler keeps its filter state across chunks, so there are no seams.
    """

    def __init__(self, sample_rate: int, channels: int, float32: bool) -> None:
        check_pcm_format(sample_rate, channels)
        self.sample_rate = sample_rate
        self._channels = channels
        self._dtype = np.dtype("<f4") if float32 else np.dtype("<i2")
        self._frame_bytes = self._dtype.itemsize * channels
        self._pending = b""
        self._resampler = (
            None
            if sample_rate == SAMPLE_RATE
            else av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        )
        self._pts = 0

    def convert(self, chunk: bytes) -> np.ndarray:
        data = self._pending + chunk
        usable = len(data) - len(data) % self._frame_bytes
        self._pending = data[usable:]
        samples = np.frombuffer(data[:usable], dtype=self._dtype)
        if self._dtype.kind == "i":
            samples = samples.astype(np.float32) / 32768.0
        else:
            samples = samples.astype(np.float32)
        if self._channels > 1:
            samples = samples.reshape(-1, self._channels).mean(axis=1, dtype=np.float32)
        return self._resample(samples)

    def flush(self) -> np.ndarray:
        if self._resampler is None:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(
            [np.zeros(0, dtype=np.float32)]
            + [f.to_ndarray().reshape(-1) for f in self._resampler.resample(None)]
        )

    def _resample(self, samples: np.ndarray) -> np.ndarray:
        if self._resampler is None or samples.size == 0:
            return samples
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._pts
        self._pts += samples.size
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
