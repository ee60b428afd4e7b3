"""The protocol every OCR engine adapter implements."""

from typing import Protocol

from PIL import Image

from paneas.ocr.v1 import ocr_pb2


class OcrEngine(Protocol):
    # The engine's enum value in the contract.
    engine: ocr_pb2.Engine.ValueType
    # Short configuration name ("tesseract", "rapidocr").
    name: str
    # Languages it reads, as Tesseract-style ISO 639-2 codes.
    languages: list[str]

    def recognize(self, image: Image.Image, languages: list[str]) -> ocr_pb2.Page:
        """Blocks, lines and words of an RGB or L image; thread-safe; `languages` pre-checked."""
        ...

    def close(self) -> None:
        """Free the engine's models."""
        ...
