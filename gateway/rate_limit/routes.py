"""Which limit class a request path belongs to, and which paths are never limited."""

GLOBAL = "global"
# Live-stream WebSocket handshakes: counted by the stream route, not by path.
STREAM_HANDSHAKES = "stream_handshakes"

# Path prefix -> class; a request consumes from its class and from the global limit.
_CLASS_BY_PREFIX: tuple[tuple[str, str], ...] = (
    ("/api/v1/ocr", "ocr"),
    ("/api/v1/asr", "asr"),
    ("/api/v1/align", "asr"),
    ("/v1/audio/transcriptions", "asr"),
    ("/v1/audio/translations", "asr"),
    ("/api/v1/llm", "llm"),
    ("/api/v1/chat", "llm"),
    ("/v1/chat/", "llm"),
    ("/v1/models", "llm"),
    ("/api/v1/tts", "tts"),
    ("/v1/audio/speech", "tts"),
)
# Probes, scrapes, the API description and the web page's assets.
_EXEMPT_PATHS = frozenset({"/", "/api/v1/health", "/metrics", "/openapi.json"})
_EXEMPT_PREFIXES = ("/docs", "/redoc", "/static/")


def is_exempt(path: str) -> bool:
    return path in _EXEMPT_PATHS or path.startswith(_EXEMPT_PREFIXES)


def limit_class(path: str) -> str | None:
    """The route class whose limit applies besides the global one, if any."""
    for prefix, name in _CLASS_BY_PREFIX:
        if path.startswith(prefix):
            return name
    return None
