"""Gateway settings, from `GATEWAY_*` environment variables."""

from typing import Annotated

from pydantic import BeforeValidator, Field, PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from paneas.services.runtime import wire
from paneas.services.runtime.settings import CommaSeparated, InsecureSecret, secret_problem


def _name_pairs(value: object) -> object:
    """`tts-1=piper,tts-1-hd=kokoro` -> {"tts-1": "piper", "tts-1-hd": "kokoro"}."""
    if not isinstance(value, str):
        return value
    pairs = {}
    for item in filter(None, (item.strip() for item in value.split(","))):
        name, equals, target = (part.strip() for part in item.partition("="))
        if not equals or not name or not target:
            raise ValueError(f"{item!r} is not name=engine (e.g. 'tts-1=piper,tts-1-hd=kokoro')")
        pairs[name] = target
    return pairs


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = wire.DEFAULT_PORTS["gateway"]
    # Browser origins allowed to call the API; none by default (same-origin only).
    cors_origins: Annotated[list[str], *CommaSeparated] = []
    # Largest request body; bigger ones get 413.
    max_body_bytes: int = 50 * 1024 * 1024
    # gRPC targets of the services (host:port); an empty target means "not deployed".
    ocr_target: str = f"127.0.0.1:{wire.DEFAULT_PORTS['ocr']}"
    asr_target: str = f"127.0.0.1:{wire.DEFAULT_PORTS['asr']}"
    llm_target: str = f"127.0.0.1:{wire.DEFAULT_PORTS['llm']}"
    tts_target: str = ""
    # Deadline for an OCR call, seconds.
    ocr_timeout_seconds: float = 300.0
    # Deadline for a file transcription, translation or alignment, seconds (long files).
    asr_timeout_seconds: float = 600.0
    # Deadline for a chat completion, streamed or not, seconds (long answers on a busy CPU).
    llm_timeout_seconds: float = 300.0
    # Deadline for a speech synthesis, streamed or not, seconds (long texts on a busy CPU).
    tts_timeout_seconds: float = 300.0
    # Deadline of other calls when the client sends no Grpc-Timeout header, seconds.
    default_timeout_seconds: float = 120.0
    # Deadline for each backend health check, seconds.
    health_timeout_seconds: float = 2.0
    # OpenAI model names that mean "the ASR service's default model" on /v1/audio/*; any
    # other `model` is passed to the service as a model name or path.
    asr_model_aliases: Annotated[list[str], *CommaSeparated] = [
        "whisper-1",
        "gpt-4o-transcribe",
        "gpt-4o-mini-transcribe",
    ]
    # OpenAI model names that mean the service's default model with speaker labels
    # (diarization) on /v1/audio/transcriptions.
    asr_diarize_model_aliases: Annotated[list[str], *CommaSeparated] = [
        "gpt-4o-transcribe-diarize",
    ]
    # OpenAI speech model names (`model` of POST /v1/audio/speech) -> the TTS engine whose
    # voices they speak with; an engine name itself ("piper", "kokoro", "espeak") is always
    # accepted too. In the environment: `tts-1=piper,tts-1-hd=kokoro`.
    tts_model_engines: Annotated[dict[str, str], NoDecode, BeforeValidator(_name_pairs)] = {
        "tts-1": "piper",
        "tts-1-hd": "kokoro",
        "gpt-4o-mini-tts": "kokoro",
        "gpt-4o-mini-tts-2025-03-20": "kokoro",
        "gpt-4o-mini-tts-2025-12-15": "kokoro",
    }
    # Key that signs WebSocket tickets (POST /api/v1/asr/stream/tickets). Empty: a random
    # key per process, so a ticket only works on the replica that issued it; replicas behind
    # one load balancer need the same secret. Set, it must be at least 16 characters and no
    # placeholder from the example files, or the gateway refuses to start.
    ticket_secret: str = Field("", repr=False)
    # How long a WebSocket ticket stays valid, seconds.
    ticket_ttl_seconds: PositiveFloat = 60.0
    # Audio bytes of one live stream waiting for the ASR service before the gateway stops
    # reading the WebSocket (backpressure: TCP then slows the client down); 1 MiB is 32 s of
    # 16 kHz PCM16.
    asr_stream_buffer_bytes: PositiveInt = 1024 * 1024
    # Largest WebSocket frame (uvicorn's ws_max_size; bigger ones close the socket 1009).
    # Keep it equal to the ASR service's ASR_MAX_CHUNK_BYTES, which refuses bigger chunks.
    asr_stream_max_frame_bytes: PositiveInt = 1024 * 1024
    # A live stream whose client sends nothing for this long (before its stop event) is
    # closed, so an abandoned socket does not hold a stream slot, seconds.
    asr_stream_idle_seconds: PositiveFloat = 60.0
    # At shutdown (SIGTERM) each open live stream's audio is ended, as if its client had sent
    # stop, and its last results are waited for this long before the socket closes (1001,
    # going away), seconds. HTTP requests in flight get uvicorn's 30 s after that.
    asr_stream_drain_seconds: PositiveFloat = 10.0

    def model_post_init(self, context: object) -> None:
        if self.ticket_secret and (
            problem := secret_problem("GATEWAY_TICKET_SECRET", self.ticket_secret)
        ):
            raise InsecureSecret(problem)

    def targets(self) -> dict[str, str]:
        return {
            "ocr": self.ocr_target,
            "asr": self.asr_target,
            "llm": self.llm_target,
            "tts": self.tts_target,
        }

    def timeout_for(self, backend: str) -> float:
        return {
            "ocr": self.ocr_timeout_seconds,
            "asr": self.asr_timeout_seconds,
            "llm": self.llm_timeout_seconds,
            "tts": self.tts_timeout_seconds,
        }.get(backend, self.default_timeout_seconds)
