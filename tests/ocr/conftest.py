"""One loaded OCR pipeline for the whole OCR suite: engines load once."""

import asyncio

import pytest

from paneas.services.ocr.pipeline import OcrPipeline
from paneas.services.ocr.settings import OcrSettings


@pytest.fixture(scope="session")
def ocr_settings() -> OcrSettings:
    return OcrSettings(
        engine="tesseract",
        engines=["tesseract", "rapidocr"],
        languages=["por", "eng"],
        workers=2,
        dpi=150,
        max_pages=500,
        max_image_pixels=90_000_000,
    )


@pytest.fixture(scope="session")
def pipeline(ocr_settings: OcrSettings):
    pipeline = OcrPipeline(ocr_settings)
    asyncio.run(pipeline.load())
    yield pipeline
    pipeline.close()
