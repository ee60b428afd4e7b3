"""Rate-limit settings, from `RATE_LIMIT_*` environment variables and `REDIS_URL`."""

from pydantic import Field, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict

from paneas.services.runtime.settings import InsecureSecret, url_password_problem


class RateLimitSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RATE_LIMIT_", extra="ignore")

    enabled: bool = True
    # Shared counters for every gateway replica (`redis://:<password>@host:6379/0`); empty
    # means each process counts on its own, in memory. A password in it must be at least 16
    # characters and no placeholder, or the gateway refuses to start.
    redis_url: str = Field("", validation_alias="REDIS_URL", repr=False)
    # When the storage is unreachable: serve without limits (true) or refuse with 503 (false).
    fail_open: bool = True
    # Requests per window for every client, across all routes ("global" is a Python keyword).
    global_limit: PositiveInt = Field(1000, validation_alias="RATE_LIMIT_GLOBAL")
    # Requests per window for each route class, on top of the global limit.
    asr: PositiveInt = 100
    ocr: PositiveInt = 50
    llm: PositiveInt = 200
    tts: PositiveInt = 100
    # Live-stream WebSocket handshakes per window for each token (or address), on top of the
    # global limit; beyond it the handshake is refused with HTTP 429.
    stream_handshakes: PositiveInt = 60
    # Live streams one token may hold open at once, across every gateway replica sharing
    # REDIS_URL; beyond it a stream is closed 1013 with a RESOURCE_EXHAUSTED error event.
    concurrent_streams: PositiveInt = 8
    # The limits above are "per minute"; tests shorten the window to a few seconds.
    window_seconds: PositiveInt = 60

    def model_post_init(self, context: object) -> None:
        # Compose and Kubernetes build the URL from REDIS_PASSWORD: name what people set.
        name = "REDIS_PASSWORD (the password in REDIS_URL)"
        if problem := url_password_problem(name, self.redis_url):
            raise InsecureSecret(problem)

    def class_limits(self) -> dict[str, int]:
        return {"asr": self.asr, "ocr": self.ocr, "llm": self.llm, "tts": self.tts}
