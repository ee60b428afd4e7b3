"""The `task` names every ASR route takes (OpenAI's, the native REST and WebSocket, jobs),
as the contract's enum."""

from paneas.asr.v1 import asr_pb2

TASKS = {"transcribe": asr_pb2.TASK_TRANSCRIBE, "translate": asr_pb2.TASK_TRANSLATE}
