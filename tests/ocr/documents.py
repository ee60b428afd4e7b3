"""Builders of test documents: text rendered into images and PDFs, and hostile inputs."""

import io
import struct
import zlib

from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

FONT_PATH = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

PORTUGUESE = (
    "A educação pública no Brasil enfrenta desafios históricos. O coração da questão "
    "está na formação dos professores e na participação da comunidade. Muitos alunos "
    "dependem do ônibus escolar, e a informação útil chega tarde às regiões distantes, "
    "onde os índices ainda são preocupantes."
)
ENGLISH = (
    "The quick brown fox jumps over the lazy dog. Public libraries remain one of the "
    "most valuable resources a community can offer, providing free access to books, "
    "computers and quiet places to study for people of every age."
)


def render_text(
    paragraphs: list[str], width: int = 1400, font_size: int = 30, margin: int = 40
) -> Image.Image:
    """Black DejaVu Sans text on white, word-wrapped, paragraphs a blank line apart."""
    font = ImageFont.truetype(FONT_PATH, font_size)
    line_height = round(font_size * 1.4)
    lines: list[str] = []
    for paragraph in paragraphs:
        if lines:
            lines.append("")
        lines.extend(_wrap(paragraph, font, width - 2 * margin))
    image = Image.new("RGB", (width, 2 * margin + line_height * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((margin, margin + index * line_height), line, font=font, fill="black")
    return image


def _wrap(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and font.getlength(candidate) <= max_width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines


def encode(image: Image.Image, image_format: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **params)
    return buffer.getvalue()


def transparent_text_png(text: str) -> bytes:
    """Black text on a fully transparent background (black if alpha were dropped)."""
    opaque = render_text([text]).convert("L")
    image = Image.new("RGBA", opaque.size, (0, 0, 0, 0))
    image.putalpha(Image.eval(opaque, lambda value: 255 - value))
    return encode(image, "PNG")


def multi_page_tiff(images: list[Image.Image]) -> bytes:
    first, *rest = images
    return encode(first, "TIFF", save_all=True, append_images=rest, compression="tiff_lzw")


def image_only_pdf(images: list[Image.Image], dpi: int) -> bytes:
    """A scanned-style PDF: each page is one image, no text layer."""
    first, *rest = images
    return encode(first, "PDF", save_all=True, append_images=rest, resolution=dpi)


def text_layer_pdf(pages: list[list[str]], password: str | None = None) -> bytes:
    """A born-digital A4 PDF: each page's paragraphs as real text in DejaVu Sans."""
    pdf = _dejavu_pdf()
    for paragraphs in pages:
        pdf.add_page()
        for paragraph in paragraphs:
            pdf.multi_cell(0, 8, paragraph, align="L", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(8)
    if password is not None:
        pdf.set_encryption(owner_password=f"{password}-owner", user_password=password)
    return bytes(pdf.output())


def _dejavu_pdf() -> FPDF:
    pdf = FPDF(format="A4")
    pdf.add_font("DejaVu", fname=FONT_PATH)
    pdf.set_font("DejaVu", size=13)
    return pdf


def blank_pages_pdf(page_count: int) -> bytes:
    pdf = FPDF()
    for _ in range(page_count):
        pdf.add_page()
    return bytes(pdf.output())


def huge_page_pdf(side_mm: float) -> bytes:
    """One square page of `side_mm`, with a little text so it is not empty."""
    pdf = _dejavu_pdf()
    pdf.add_page(format=(side_mm, side_mm))
    pdf.cell(text="big")
    return bytes(pdf.output())


def decompression_bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit all-black PNG of the given size, built without allocating its pixels.

    Rows of zeros compress ~1000:1, so even 30000x30000 (900 Mpx) is ~100 KiB.
    """
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte "None" + packed pixels
    rows_per_chunk = max(1, (4 << 20) // len(row))
    compressor = zlib.compressobj(9)
    data = bytearray()
    for start in range(0, height, rows_per_chunk):
        data += compressor.compress(row * min(rows_per_chunk, height - start))
    data += compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    chunks = _chunk(b"IHDR", header) + _chunk(b"IDAT", bytes(data)) + _chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def _chunk(kind: bytes, payload: bytes) -> bytes:
    checksum = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", checksum)


def truncated(content: bytes) -> bytes:
    """The first half of a file: headers intact, pixel data cut off."""
    return content[: len(content) // 2]
