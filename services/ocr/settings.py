"""OCR service settings, from `OCR_*` environment variables."""

from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from paneas.services.runtime import wire
from paneas.services.runtime.settings import CommaSeparated, ServerSettings

EngineName = Literal["tesseract", "rapidocr"]


class OcrSettings(ServerSettings):
    model_config = SettingsConfigDict(env_prefix="OCR_", extra="ignore")

    port: int = wire.DEFAULT_PORTS["ocr"]
    metrics_port: int = wire.DEFAULT_METRICS_PORTS["ocr"]
    # Engine used when a request leaves it unspecified.
    engine: EngineName = "tesseract"
    # Engines loaded at start; a request may only pick a loaded one.
    engines: Annotated[list[EngineName], *CommaSeparated] = Field(
        default_factory=lambda: ["tesseract", "rapidocr"]
    )
    # Tesseract languages used when a request gives no hints (ISO 639-2).
    languages: Annotated[list[str], *CommaSeparated] = Field(default_factory=lambda: ["por", "eng"])
    tessdata_path: str = "/usr/share/tesseract-ocr/5/tessdata/"
    # Pages recognised in parallel (shared by all requests of the process).
    workers: int = 2
    # Pages admitted and not finished yet, over every request, beyond which a new request is
    # refused (RESOURCE_EXHAUSTED with a retry hint) instead of queueing behind them without
    # bound. A document of more pages than this is still taken when nothing else waits.
    max_queued_pages: int = 500
    # Seconds a refused caller is told to wait before retrying.
    retry_after_seconds: float = 2.0
    # Default rasterisation resolution for PDF pages.
    dpi: int = 300
    # Most pages one document may have.
    max_pages: int = 500
    # Largest decoded page image, in pixels (a 600 dpi A4 page is ~35 Mpx).
    max_image_pixels: int = 90_000_000
