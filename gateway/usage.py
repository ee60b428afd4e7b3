"""What a request consumed, set by the route that served it and read by analytics.

Routes call `usage_of(request)` and fill in what applies; everything else stays zero.
"""

from dataclasses import dataclass

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
