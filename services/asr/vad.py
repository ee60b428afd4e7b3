"""Streaming voice activity detection with the Silero v6 model faster-whisper ships.

faster-whisper only runs Silero over whole files; live audio needs the model's recurrent
state carried from one chunk to the next, which this keeps per stream.
"""

import functools
import os

import numpy as np
import onnxruntime
from faster_whisper.utils import get_assets_path

FRAME_SAMPLES = 512  # 32 ms at 16 kHz: the frame Silero was trained on
_CONTEXT_SAMPLES = 64


@functools.cache
def _session() -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    # One thread: frames are tiny, and the decoder needs the cores.
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    return onnxruntime.InferenceSession(
        os.path.join(get_assets_path(), "silero_vad_v6.onnx"),
        providers=["CPUExecutionProvider"],
        sess_options=options,
    )


class StreamingVad:
    """Speech probability for every 32 ms frame of a 16 kHz stream, fed in any chunk size."""

    def __init__(self) -> None:
        self._session = _session()
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT_SAMPLES, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Probabilities of the complete frames now available; a partial frame waits."""
        audio = np.concatenate([self._pending, samples])
        count = audio.size // FRAME_SAMPLES
        self._pending = audio[count * FRAME_SAMPLES :]
        if count == 0:
            return np.zeros(0, dtype=np.float32)
        frames = audio[: count * FRAME_SAMPLES].reshape(count, FRAME_SAMPLES)
        # Each frame is fed with the last 64 samples before it, as Silero expects.
        previous = np.concatenate([self._context[None, :], frames[:-1, -_CONTEXT_SAMPLES:]])
        self._context = frames[-1, -_CONTEXT_SAMPLES:].copy()
        batch = np.concatenate([previous, frames], axis=1)
        probabilities, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c}
        )
        return probabilities.reshape(-1)
