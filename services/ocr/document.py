"""Request bytes -> a document whose pages are produced on demand (image or text layer).

A page is loaded by the worker that recognises it, so a large document never holds more
decoded pages in memory than there are workers.
"""

import io
import math
import struct
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageOps

from paneas.ocr.v1 import ocr_pb2
from paneas.services.ocr.errors import DocumentTooLarge, InvalidDocument
from paneas.services.ocr.layout import (
    Box,
    RecognizedLine,
    build_page,
    group_into_blocks,
    proportional_words,
)

PDF_MIME_TYPE = "application/pdf"
# The PDF header may follow up to 1 KiB of junk (PDF 32000-1, annex H).
PDF_HEADER_WINDOW = 1024
IMAGE_FORMATS = {"PNG", "JPEG", "MPO", "TIFF", "WEBP", "BMP", "GIF"}
# Frames of animated GIF/WebP are not pages; only TIFF frames are.
MULTI_PAGE_FORMATS = {"TIFF"}
# Pillow's format plugins report malformed input with any of these, not one exception type.
MALFORMED_IMAGE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    TypeError,
    KeyError,
    IndexError,
    struct.error,
)

IMAGE_REMEDY = "send a smaller or downscaled image"

# PDFium keeps global state and is not thread-safe, not even across documents (pypdfium2's
# documentation: every call must be serialised process-wide), so a per-document lock would
# not be safe. The lock covers reading a page and rasterising it only; recognition, the
# expensive part, runs outside it on every worker at once.
PDFIUM_LOCK = threading.Lock()

# What a worker gets for a page: pixels to recognise, or a page already read from text.
PageContent = Image.Image | ocr_pb2.Page


@dataclass(frozen=True)
class DocumentOptions:
    dpi: int
    text_layer_policy: ocr_pb2.TextLayerPolicy.ValueType
    password: str
    max_pages: int
    max_image_pixels: int


class Document(ABC):
    mime_type: str
    page_count: int

    @abstractmethod
    def load_page(self, page_number: int) -> PageContent:
        """The 1-based page, ready to recognise; safe to call from several threads."""

    @abstractmethod
    def close(self) -> None:
        """Release what the document holds open; no page may be loading."""


def open_document(content: bytes, mime_type_hint: str, options: DocumentOptions) -> Document:
    if not content:
        raise InvalidDocument("`content` is empty; send the image or PDF bytes")
    is_pdf = b"%PDF-" in content[:PDF_HEADER_WINDOW]
    if not is_pdf and mime_type_hint.strip().lower() == PDF_MIME_TYPE:
        raise InvalidDocument(
            "`mime_type` says application/pdf but the content has no PDF header; "
            "send the PDF file's bytes unchanged"
        )
    document = PdfDocument(content, options) if is_pdf else ImageDocument(content, options)
    if document.page_count > options.max_pages:
        document.close()
        raise DocumentTooLarge(
            f"the document has {document.page_count} pages, over the limit of "
            f"{options.max_pages} (setting OCR_MAX_PAGES); split it into smaller documents"
        )
    return document


def check_pixel_count(
    width: int, height: int, page_number: int, max_pixels: int, remedy: str
) -> None:
    if width * height > max_pixels:
        raise DocumentTooLarge(
            f"page {page_number} is {width}x{height} = {width * height} pixels, over the limit "
            f"of {max_pixels} (setting OCR_MAX_IMAGE_PIXELS); {remedy}"
        )


class ImageDocument(Document):
    def __init__(self, content: bytes, options: DocumentOptions) -> None:
        self._content = content
        self._options = options
        with self._open() as image:
            if image.format not in IMAGE_FORMATS:
                raise InvalidDocument(
                    f"{image.format} images are not supported; "
                    "send PNG, JPEG, TIFF, WebP, BMP, GIF or PDF"
                )
            self.mime_type = Image.MIME.get(image.format, "application/octet-stream")
            self.page_count = _frame_count(image) if image.format in MULTI_PAGE_FORMATS else 1
            # Refuse a bomb now, from the header alone, before anything is decoded.
            check_pixel_count(*image.size, 1, options.max_image_pixels, IMAGE_REMEDY)

    def close(self) -> None:
        """Nothing to release: every page is decoded afresh from the bytes."""

    def load_page(self, page_number: int) -> Image.Image:
        # A fresh reader per page: Pillow images are not safe to seek from several threads.
        with self._open() as image:
            try:
                image.seek(page_number - 1)
                check_pixel_count(
                    *image.size, page_number, self._options.max_image_pixels, IMAGE_REMEDY
                )
                image.load()
                return to_ocr_mode(image)
            except Image.DecompressionBombError as error:
                raise self._bomb(error) from error
            except MALFORMED_IMAGE_ERRORS as error:
                raise InvalidDocument(
                    f"page {page_number} of the {image.format} image is corrupt or truncated "
                    f"({error}); send an intact file"
                ) from error

    def _open(self) -> Image.Image:
        try:
            return Image.open(io.BytesIO(self._content))
        except Image.DecompressionBombError as error:
            raise self._bomb(error) from error
        except MALFORMED_IMAGE_ERRORS as error:
            raise InvalidDocument(
                "the content is neither a PDF nor a supported image "
                "(PNG, JPEG, TIFF, WebP, BMP, GIF), or it is corrupt"
            ) from error

    def _bomb(self, error: Exception) -> DocumentTooLarge:
        # Pillow's own guard fires first for images far beyond its default limit.
        return DocumentTooLarge(
            f"the image is too large to decode ({error}); the limit is "
            f"{self._options.max_image_pixels} pixels (setting OCR_MAX_IMAGE_PIXELS)"
        )


def _frame_count(image: Image.Image) -> int:
    # Counting TIFF frames walks the chain of directories, which may be broken.
    try:
        return image.n_frames
    except MALFORMED_IMAGE_ERRORS as error:
        raise InvalidDocument(
            f"the TIFF's page directory is corrupt ({error}); send an intact file"
        ) from error


def to_ocr_mode(image: Image.Image) -> Image.Image:
    """Upright 8-bit grey or RGB; transparency flattened onto white, as it would print."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("1", "L"):
        return image.convert("L")
    if image.mode == "I" or image.mode.startswith("I;16"):
        # 16-bit grey: keep the high byte instead of clipping everything above 255 to white.
        pixels = np.asarray(image.convert("I"), dtype=np.int64) >> 8
        return Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, "white")
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


class PdfDocument(Document):
    mime_type = PDF_MIME_TYPE

    def __init__(self, content: bytes, options: DocumentOptions) -> None:
        self._options = options
        with PDFIUM_LOCK:
            try:
                self._pdf = pdfium.PdfDocument(content, password=options.password or None)
            except pdfium.PdfiumError as error:
                raise _open_error(error, options.password) from error
            self.page_count = len(self._pdf)

    def load_page(self, page_number: int) -> PageContent:
        scale = self._options.dpi / 72
        with PDFIUM_LOCK:
            page = self._pdf[page_number - 1]
            try:
                if self._options.text_layer_policy != ocr_pb2.TEXT_LAYER_POLICY_FORCE_OCR:
                    text_page = read_text_layer(page, scale)
                    if text_page is not None:
                        text_page.page_number = page_number
                        return text_page
                width, height = pixel_size(page, scale)
                check_pixel_count(
                    width, height, page_number, self._options.max_image_pixels, "lower `dpi`"
                )
                image = page.render(scale=scale).to_pil()
            finally:
                page.close()
        image.info["dpi"] = (self._options.dpi, self._options.dpi)
        return image

    def close(self) -> None:
        with PDFIUM_LOCK:
            self._pdf.close()


def _open_error(error: pdfium.PdfiumError, password: str) -> InvalidDocument:
    if error.err_code == pdfium_c.FPDF_ERR_PASSWORD:
        if password:
            return InvalidDocument("the PDF password in `password` is wrong")
        return InvalidDocument("PDF is encrypted: pass its password in `password`")
    if error.err_code == pdfium_c.FPDF_ERR_SECURITY:
        return InvalidDocument("the PDF uses an unsupported security handler")
    return InvalidDocument(f"the PDF is corrupt or not a PDF ({error}); send an intact file")


def pixel_size(page: pdfium.PdfPage, scale: float) -> tuple[int, int]:
    """The size `page.render(scale=scale)` produces (pypdfium2 rounds up)."""
    return math.ceil(page.get_width() * scale), math.ceil(page.get_height() * scale)


def read_text_layer(page: pdfium.PdfPage, scale: float) -> ocr_pb2.Page | None:
    """The page built from its text layer, in pixels at `scale`; None when it has no text.

    Rotated pages are left to OCR: their text coordinates would need the page's rotation
    applied, and such pages are rare among documents that carry text.
    """
    if page.get_rotation() != 0:
        return None
    text_page = page.get_textpage()
    try:
        if not text_page.get_text_range().strip():
            return None
        left, bottom, right, top = page.get_bbox()
        lines: list[RecognizedLine] = []
        for index in range(text_page.count_rects()):
            rect_left, rect_bottom, rect_right, rect_top = text_page.get_rect(index)
            text = text_page.get_text_bounded(rect_left, rect_bottom, rect_right, rect_top)
            text = " ".join(text.split())
            if not text:
                continue
            # PDF user space has its origin bottom-left; page pixels have it top-left.
            box = Box(
                round((rect_left - left) * scale),
                round((top - rect_top) * scale),
                round((rect_right - left) * scale),
                round((top - rect_bottom) * scale),
            )
            lines.append(RecognizedLine(text, box, 1.0))
        width, height = pixel_size(page, scale)
    finally:
        text_page.close()
    lines = _join_segments_on_one_line(lines)
    for line in lines:
        line.words = proportional_words(line.text, line.box, 1.0)
    page_proto = build_page(group_into_blocks(lines), width, height)
    page_proto.source = ocr_pb2.TEXT_SOURCE_PDF_TEXT_LAYER
    page_proto.confidence = 1.0
    return page_proto


def _join_segments_on_one_line(segments: list[RecognizedLine]) -> list[RecognizedLine]:
    """PDFium yields one rect per run of text; runs in reading order on one baseline merge."""
    lines: list[RecognizedLine] = []
    for segment in segments:
        previous = lines[-1] if lines else None
        centre = (segment.box.top + segment.box.bottom) / 2
        if previous is not None and previous.box.top <= centre <= previous.box.bottom:
            previous.text = f"{previous.text} {segment.text}"
            previous.box = previous.box.union(segment.box)
        else:
            lines.append(segment)
    return lines
