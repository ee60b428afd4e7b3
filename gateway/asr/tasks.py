"""The `task` names every ASR route takes (OpenAI's, the native REST and WebSocket, jobs),
as the contract's enum; and what the file routes say of `multichannel`."""

from paneas.asr.v1 import asr_pb2

TASKS = {"transcribe": asr_pb2.TASK_TRANSCRIBE, "translate": asr_pb2.TASK_TRANSLATE}

MULTICHANNEL = (
    "Transcribe each channel on its own (a call recording, one party per channel): segments "
    "carry `channel` (0-based) and come in start-time order; a mono file is channel 0, at "
    "most 8 channels"
)
