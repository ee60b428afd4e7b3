"""What a request consumed, set by the route that served it and read by analytics.

Routes call `usage_of(request)` and fill in what applies; everything else stays zero.
"""

from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import Message
from starlette.requests import Request


@dataclass
class Usage:
    # Fully qualified RPC the route called, e.g. "/paneas.ocr.v1.OcrService/Recognize".
    rpc: str = ""
    model: str = ""
    audio_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    pages: int = 0
    characters: int = 0


def usage_of(request: Request) -> Usage:
    usage = getattr(request.state, "usage", None)
    if usage is None:
        usage = request.state.usage = Usage()
    return usage


def _ocr_recognize(usage: Usage, response: Message) -> None:
    usage.pages = len(response.pages)
    usage.characters = len(response.text)


def _asr_transcript(usage: Usage, response: Message) -> None:
    # RecognizeResponse, and RecognizeStream's first message (later ones leave these unset).
    if response.duration_seconds:
        usage.audio_seconds = response.duration_seconds
    if response.model:
        usage.model = response.model


def _asr_align(usage: Usage, response: Message) -> None:
    usage.audio_seconds = response.duration_seconds


def _llm_chat(usage: Usage, response: Message) -> None:
    # ChatResponse, and every StreamChat chunk (the last one alone carries usage).
    if response.model:
        usage.model = response.model
    if response.HasField("usage"):
        usage.prompt_tokens = response.usage.prompt_tokens
        usage.completion_tokens = response.usage.completion_tokens


def _tts_audio(usage: Usage, response: Message) -> None:
    # SynthesizeResponse: the voice that spoke is the "model" that served.
    usage.model = response.voice
    usage.audio_seconds = response.duration_seconds


def _tts_chunk(usage: Usage, response: Message) -> None:
    # StreamSynthesizeResponse: each chunk says where it ends, the last one the duration.
    usage.model = response.voice
    usage.audio_seconds = max(
        usage.audio_seconds, response.offset_seconds + response.duration_seconds
    )


# How to read usage off the responses of RPCs that report any; keyed by full RPC name.
_FROM_RESPONSE: dict[str, Callable[[Usage, Message], None]] = {
    "/paneas.ocr.v1.OcrService/Recognize": _ocr_recognize,
    "/paneas.asr.v1.AsrService/Recognize": _asr_transcript,
    "/paneas.asr.v1.AsrService/RecognizeStream": _asr_transcript,
    "/paneas.asr.v1.AsrService/Align": _asr_align,
    "/paneas.llm.v1.LlmService/Chat": _llm_chat,
    "/paneas.llm.v1.LlmService/StreamChat": _llm_chat,
    "/paneas.tts.v1.TtsService/Synthesize": _tts_audio,
    "/paneas.tts.v1.TtsService/StreamSynthesize": _tts_chunk,
}


def record_response_usage(request: Request, rpc: str, response: Message) -> None:
    usage = usage_of(request)
    usage.rpc = rpc
    if reader := _FROM_RESPONSE.get(rpc):
        reader(usage, response)
