"""Audio in: encoded files decoded with PyAV, raw streamed PCM converted chunk by chunk.

Everything leaves here as mono float32 at Whisper's 16 kHz: the channels mixed down, or one
channel of a file taken alone (multichannel recognition transcribes each on its own).
"""

import io
from collections.abc import Iterator

import av
import numpy as np

from paneas.services.asr.errors import AudioTooLong, InvalidAudio

SAMPLE_RATE = 16_000
MIN_STREAM_RATE = 8_000
MAX_STREAM_RATE = 48_000
# Most channels a stream's PCM, or a file transcribed channel by channel, may have.
MAX_CHANNELS = 8
_FORMATS = "wav, mp3, ogg/opus, webm, m4a, flac"


# How far back from a window's end a cut may move to fall in the quietest 100 ms.
_CUT_SEARCH_SECONDS = 20.0
_CUT_FRAME = SAMPLE_RATE // 10
LIMIT_SETTING = "ASR_MAX_AUDIO_SECONDS"


def _open(data: bytes) -> av.container.InputContainer:
    if not data:
        raise InvalidAudio(f"the audio is empty: send a file ({_FORMATS})")
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, ValueError) as error:
        raise InvalidAudio(
            f"the audio could not be decoded ({error}); send a file FFmpeg reads ({_FORMATS})"
        ) from error
    if not container.streams.audio:
        container.close()
        raise InvalidAudio(f"the file has no audio stream; send an audio file ({_FORMATS})")
    return container


def stated_seconds(container: av.container.InputContainer) -> float | None:
    """The duration the container states (header, index or FFmpeg's estimate), if any."""
    stream = container.streams.audio[0]
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _too_long(max_seconds: float, setting: str, stated: float | None = None) -> AudioTooLong:
    lasts = f"lasts {stated:.0f} s (as its container states), " if stated else "is "
    return AudioTooLong(
        f"the audio {lasts}over this instance's {max_seconds:.0f} s limit for one request "
        f"({setting}); split it, or send it with StreamingRecognize"
    )


class EncodedFile:
    """An encoded file (any container and codec FFmpeg knows, any sample rate), decoded in
    pieces of 16 kHz mono float32: its channels mixed down, or only `channel` (0-based; a mono
    file has channel 0).

    Opening it reads only the container's header: a file whose stated duration is over
    `max_seconds` is refused there, before any decoding, whatever its compression ratio.
    Decoding enforces the limit again (containers may state nothing, or lie), so at most
    `max_seconds` of audio is ever decoded, and `windows` never holds more than about two
    windows of samples at once (64 kB per second of window).
    """

    def __init__(
        self,
        data: bytes,
        max_seconds: float,
        setting: str = LIMIT_SETTING,
        channel: int | None = None,
    ) -> None:
        self._max_seconds = max_seconds
        self._setting = setting
        self._max_samples = int(max_seconds * SAMPLE_RATE)
        self._channel = channel
        self._container = _open(data)
        stream = self._container.streams.audio[0]
        self.channels = max(stream.channels, 1)
        if channel is not None and not 0 <= channel < self.channels:
            self._container.close()
            raise InvalidAudio(f"the audio has no channel {channel}, only {self.channels}")
        self.stated_seconds = stated_seconds(self._container)
        # A second of slack: estimates from the bitrate are rarely exact.
        if self.stated_seconds is not None and self.stated_seconds > max_seconds + 1:
            self._container.close()
            raise _too_long(max_seconds, setting, self.stated_seconds)
        self.decoded_seconds = 0.0
        # Set once the decoder reached the end of the file.
        self.finished = False

    def close(self) -> None:
        self._container.close()

    def pieces(self) -> Iterator[np.ndarray]:
        """The samples as the decoder produces them (a few thousand at a time)."""
        if self._channel is None:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        else:
            # Planar, channels kept as they are: one row per channel, of which one is taken.
            layout = self._container.streams.audio[0].layout
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
        total = 0
        try:
            for frame in self._container.decode(audio=0):
                for out in resampler.resample(frame):
                    total += out.samples
                    if total > self._max_samples:
                        raise _too_long(self._max_seconds, self._setting)
                    self.decoded_seconds = total / SAMPLE_RATE
                    yield self._samples(out)
            for out in resampler.resample(None):
                total += out.samples
                self.decoded_seconds = total / SAMPLE_RATE
                yield self._samples(out)
        except av.error.FFmpegError as error:
            if total == 0:
                raise InvalidAudio(
                    f"the audio could not be decoded ({error}); send a file FFmpeg reads "
                    f"({_FORMATS})"
                ) from error
            # A truncated tail (an upload cut short) still leaves decodable audio.
        if total == 0:
            raise InvalidAudio("the audio has no samples; send a file with sound in it")
        self.finished = True

    def _samples(self, frame: av.AudioFrame) -> np.ndarray:
        samples = frame.to_ndarray()
        if self._channel is None:
            return samples.reshape(-1)
        return samples[self._channel].copy()

    def windows(self, window_seconds: float) -> Iterator[tuple[float, np.ndarray]]:
        """(offset in seconds, samples) of consecutive windows of at most `window_seconds`,
        each cut at the quietest 100 ms of its last 20 s, so a cut rarely splits a word."""
        window = max(int(window_seconds * SAMPLE_RATE), 2 * _CUT_FRAME)
        pending: list[np.ndarray] = []
        size = 0
        offset = 0
        for piece in self.pieces():
            pending.append(piece)
            size += piece.size
            while size >= window:
                buffer = np.concatenate(pending)
                cut = _quiet_cut(buffer[:window])
                carry = buffer[cut:].copy()
                pending, size = [carry], carry.size
                yield offset / SAMPLE_RATE, buffer[:cut]
                offset += cut
                del buffer
        if size:
            yield offset / SAMPLE_RATE, np.concatenate(pending)


def open_channels(
    data: bytes, max_seconds: float, multichannel: bool, setting: str = LIMIT_SETTING
) -> list[EncodedFile]:
    """The file mixed down, or each of its channels as a file of its own (a call recording
    with one party per channel; a mono file is channel 0), headers read, nothing decoded."""
    if not multichannel:
        return [EncodedFile(data, max_seconds, setting)]
    first = EncodedFile(data, max_seconds, setting, channel=0)
    if first.channels > MAX_CHANNELS:
        first.close()
        raise InvalidAudio(
            f"the audio has {first.channels} channels; multichannel transcribes at most "
            f"{MAX_CHANNELS}: send fewer channels, or leave multichannel off to mix them down"
        )
    files = [first]
    try:
        for number in range(1, first.channels):
            files.append(EncodedFile(data, max_seconds, setting, channel=number))
    except BaseException:
        for opened in files:
            opened.close()
        raise
    return files


def _quiet_cut(window: np.ndarray) -> int:
    """Where to end `window`: the middle of its quietest 100 ms frame near the end."""
    search = min(int(_CUT_SEARCH_SECONDS * SAMPLE_RATE), window.size // 2)
    start = window.size - search
    frames = search // _CUT_FRAME
    if frames < 1:
        return window.size
    tail = window[start : start + frames * _CUT_FRAME].reshape(frames, _CUT_FRAME)
    quietest = int(np.argmin(np.square(tail).sum(axis=1)))
    return start + quietest * _CUT_FRAME + _CUT_FRAME // 2


def decode_file(data: bytes, max_seconds: float, setting: str = LIMIT_SETTING) -> np.ndarray:
    """The whole file at once, for work that needs all of it (alignment): at most
    `max_seconds` of samples, refused before decoding when the container says it is longer."""
    audio = EncodedFile(data, max_seconds, setting)
    try:
        return np.concatenate(list(audio.pieces())).astype(np.float32, copy=False)
    finally:
        audio.close()


def check_pcm_format(sample_rate: int, channels: int) -> None:
    if not MIN_STREAM_RATE <= sample_rate <= MAX_STREAM_RATE:
        raise InvalidAudio(
            f"sample_rate_hertz {sample_rate} is out of range: send audio sampled at "
            f"{MIN_STREAM_RATE}-{MAX_STREAM_RATE} Hz (16000 is native)"
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise InvalidAudio(f"audio_channel_count {channels} is out of range (1-{MAX_CHANNELS})")


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
