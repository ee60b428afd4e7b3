"""Realtime input audio to what StreamingRecognize is given: 16-bit mono PCM at 16 kHz.

G.711 (mu-law, A-law) is expanded with 256-entry tables built from the ITU-T G.711 definition
(Python's `audioop` is deprecated and gone in 3.13). The resampler keeps its filter state
across appends, so chunk boundaries leave no seams; `flush` returns its last samples when the
buffer is committed.
"""

import av
import numpy as np

from paneas.gateway.openai.realtime.protocol import G711_RATE, PCM, PCM_RATE, PCMA, PCMU

TARGET_RATE = 16_000


def _mu_law_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(codes & 0x80, -magnitude, magnitude).astype(np.int16)


def _a_law_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    # In A-law the sign bit set means positive.
    return np.where(codes & 0x80, magnitude, -magnitude).astype(np.int16)


MU_LAW = _mu_law_table()
A_LAW = _a_law_table()


def input_rate(audio_format: str) -> int:
    return PCM_RATE if audio_format == PCM else G711_RATE


class InputConverter:
    """One buffer's audio, append by append, as 16 kHz PCM16 bytes."""

    def __init__(self, audio_format: str) -> None:
        self.audio_format = audio_format
        self._rate = input_rate(audio_format)
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=TARGET_RATE)
        # An odd trailing byte of PCM16 waits for the next append.
        self._pending = b""

    def convert(self, data: bytes) -> bytes:
        if self.audio_format == PCM:
            data = self._pending + data
            usable = len(data) - len(data) % 2
            self._pending = data[usable:]
            samples = np.frombuffer(data[:usable], dtype="<i2")
        else:
            table = MU_LAW if self.audio_format == PCMU else A_LAW
            samples = table[np.frombuffer(data, dtype=np.uint8)]
        if not samples.size:
            return b""
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype="<i2").reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = self._rate
        return self._resampled(self._resampler.resample(frame))

    def flush(self) -> bytes:
        return self._resampled(self._resampler.resample(None))

    @staticmethod
    def _resampled(frames: list[av.AudioFrame]) -> bytes:
        return b"".join(frame.to_ndarray().tobytes() for frame in frames)


def seconds_of(audio_format: str, size: int) -> float:
    """How long `size` bytes of client audio last."""
    bytes_per_sample = 2 if audio_format == PCM else 1
    return size / bytes_per_sample / input_rate(audio_format)


FORMATS = (PCM, PCMU, PCMA)
