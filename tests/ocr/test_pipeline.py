"""The OCR pipeline end to end on real engines: accuracy, PDFs, formats and hostile inputs."""

import asyncio

import pytest

from paneas.ocr.v1 import ocr_pb2
from paneas.services.ocr.errors import DocumentTooLarge, InvalidDocument
from tests.ocr.documents import (
    ENGLISH,
    PORTUGUESE,
    blank_pages_pdf,
    decompression_bomb_png,
    encode,
    huge_page_pdf,
    image_only_pdf,
    multi_page_tiff,
    render_text,
    text_layer_pdf,
    transparent_text_png,
    truncated,
)
from tests.support.text import accuracy, normalized

TESSERACT_MIN_ACCURACY = 0.98
# PP-OCRv6 small scored 0.996-1.0 on these texts; it sometimes drops a space between words.
RAPIDOCR_MIN_ACCURACY = 0.97
PDF_DPI = 150


def recognize(pipeline, content: bytes, **fields) -> ocr_pb2.RecognizeResponse:
    return asyncio.run(pipeline.recognize(ocr_pb2.RecognizeRequest(content=content, **fields)))


@pytest.mark.parametrize("text", [PORTUGUESE, ENGLISH], ids=["pt", "en"])
@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_tesseract_reads_images(pipeline, text, image_format):
    response = recognize(pipeline, encode(render_text([text]), image_format, quality=92))

    assert accuracy(text, response.text) >= TESSERACT_MIN_ACCURACY
    page = response.pages[0]
    assert page.source == ocr_pb2.TEXT_SOURCE_OCR
    assert page.engine == ocr_pb2.ENGINE_TESSERACT
    assert response.mime_type == f"image/{image_format.lower()}"


@pytest.mark.parametrize("text", [PORTUGUESE, ENGLISH], ids=["pt", "en"])
def test_tesseract_reads_image_only_pdfs(pipeline, text):
    content = image_only_pdf([render_text([text])], PDF_DPI)

    response = recognize(pipeline, content, dpi=PDF_DPI)

    assert response.mime_type == "application/pdf"
    assert response.pages[0].source == ocr_pb2.TEXT_SOURCE_OCR
    assert accuracy(text, response.text) >= TESSERACT_MIN_ACCURACY


@pytest.mark.parametrize("text", [PORTUGUESE, ENGLISH], ids=["pt", "en"])
def test_rapidocr_reads_images(pipeline, text):
    response = recognize(
        pipeline, encode(render_text([text]), "PNG"), engine=ocr_pb2.ENGINE_RAPIDOCR
    )

    assert accuracy(text, response.text) >= RAPIDOCR_MIN_ACCURACY
    assert response.pages[0].engine == ocr_pb2.ENGINE_RAPIDOCR


@pytest.mark.parametrize("engine", [ocr_pb2.ENGINE_TESSERACT, ocr_pb2.ENGINE_RAPIDOCR])
def test_layout_is_consistent(pipeline, engine):
    image = render_text([PORTUGUESE, ENGLISH])

    page = recognize(pipeline, encode(image, "PNG"), engine=engine).pages[0]

    assert (page.width, page.height) == image.size
    assert len(page.blocks) == 2, "two paragraphs a blank line apart are two blocks"
    assert page.text == "\n\n".join(block.text for block in page.blocks)
    assert 0 < page.confidence <= 1
    for block in page.blocks:
        assert block.text == "\n".join(line.text for line in block.lines)
        for line in block.lines:
            assert normalized(line.text).replace(" ", "") == "".join(w.text for w in line.words)
            for word in line.words:
                box = word.bounding_box
                assert 0 <= word.confidence <= 1
                assert box.width > 0 and box.height > 0
                assert box.left + box.width <= page.width
                assert box.top + box.height <= page.height
    first_line, last_line = page.blocks[0].lines[0], page.blocks[-1].lines[-1]
    assert first_line.bounding_box.top < last_line.bounding_box.top


@pytest.mark.parametrize("image_format", ["WEBP", "BMP", "GIF", "TIFF"])
def test_other_image_formats(pipeline, image_format):
    text = "Formato de imagem com acentuação."

    response = recognize(pipeline, encode(render_text([text]), image_format))

    assert accuracy(text, response.text) >= TESSERACT_MIN_ACCURACY
    assert response.mime_type == f"image/{image_format.lower()}"


def test_transparent_background_is_read_as_white(pipeline):
    text = "Texto preto sobre fundo transparente."

    response = recognize(pipeline, transparent_text_png(text))

    assert accuracy(text, response.text) >= TESSERACT_MIN_ACCURACY


def test_multi_page_tiff(pipeline):
    texts = ["Primeira página do relatório.", "Second page of the report."]

    response = recognize(pipeline, multi_page_tiff([render_text([t]) for t in texts]))

    assert response.document_page_count == 2
    assert [page.page_number for page in response.pages] == [1, 2]
    for text, page in zip(texts, response.pages, strict=True):
        assert accuracy(text, page.text) >= TESSERACT_MIN_ACCURACY
    assert response.text == "\f".join(page.text for page in response.pages)


def test_pdf_text_layer_is_used(pipeline):
    paragraphs = [PORTUGUESE, ENGLISH]

    response = recognize(pipeline, text_layer_pdf([paragraphs]), dpi=PDF_DPI)

    page = response.pages[0]
    assert page.source == ocr_pb2.TEXT_SOURCE_PDF_TEXT_LAYER
    assert page.engine == ocr_pb2.ENGINE_UNSPECIFIED
    assert page.confidence == 1.0
    assert normalized(page.text) == normalized(" ".join(paragraphs))
    assert len(page.blocks) == 2
    # A4 at 150 dpi; fpdf2's default 10 mm margin puts the first line ~59 px from the top.
    assert (page.width, page.height) == (1241, 1754)
    first_line = page.blocks[0].lines[0].bounding_box
    assert 45 <= first_line.top <= 75
    assert 45 <= first_line.left <= 75
    assert page.blocks[1].bounding_box.top > page.blocks[0].bounding_box.top


def test_force_ocr_ignores_text_layer(pipeline):
    response = recognize(
        pipeline,
        text_layer_pdf([[PORTUGUESE]]),
        dpi=PDF_DPI,
        text_layer_policy=ocr_pb2.TEXT_LAYER_POLICY_FORCE_OCR,
    )

    page = response.pages[0]
    assert page.source == ocr_pb2.TEXT_SOURCE_OCR
    assert page.engine == ocr_pb2.ENGINE_TESSERACT
    assert (page.width, page.height) == (1241, 1754)
    assert accuracy(PORTUGUESE, page.text) >= TESSERACT_MIN_ACCURACY


def test_page_selection(pipeline):
    pages = [[f"Conteúdo da página {number}."] for number in range(1, 6)]

    response = recognize(pipeline, text_layer_pdf(pages), pages="2-3, 5,3")

    assert response.document_page_count == 5
    assert [page.page_number for page in response.pages] == [2, 3, 5]
    assert response.text.split("\f") == [
        "Conteúdo da página 2.",
        "Conteúdo da página 3.",
        "Conteúdo da página 5.",
    ]


def test_encrypted_pdf(pipeline):
    content = text_layer_pdf([["Documento sigiloso."]], password="s3nha")

    with pytest.raises(InvalidDocument, match="PDF is encrypted: pass its password in `password`"):
        recognize(pipeline, content)
    with pytest.raises(InvalidDocument, match="password"):
        recognize(pipeline, content, password="errada")
    response = recognize(pipeline, content, password="s3nha")
    assert response.text == "Documento sigiloso."


async def test_concurrent_requests_get_their_own_results(pipeline):
    texts = [f"Pedido de {fruit} em paralelo." for fruit in ("laranjas", "maçãs", "uvas", "peras")]
    contents = [encode(render_text([text]), "PNG") for text in texts]

    responses = await asyncio.gather(
        *(pipeline.recognize(ocr_pb2.RecognizeRequest(content=content)) for content in contents)
    )

    for text, response in zip(texts, responses, strict=True):
        assert accuracy(text, response.text) >= TESSERACT_MIN_ACCURACY


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"just some plain text, not a document",
        truncated(encode(render_text([ENGLISH]), "PNG")),
        truncated(encode(render_text([ENGLISH]), "JPEG")),
        truncated(multi_page_tiff([render_text([ENGLISH])] * 3)),
        b"%PDF-1.7\n this is not really a PDF",
        truncated(text_layer_pdf([[ENGLISH]])),
    ],
    ids=[
        "empty",
        "not-a-document",
        "truncated-png",
        "truncated-jpeg",
        "truncated-tiff",
        "fake-pdf",
        "cut-pdf",
    ],
)
def test_unreadable_content_is_invalid(pipeline, content):
    with pytest.raises(InvalidDocument):
        recognize(pipeline, content)


def test_too_many_pages(pipeline, ocr_settings):
    limit = rf"2000 pages.*{ocr_settings.max_pages}.*OCR_MAX_PAGES"
    with pytest.raises(DocumentTooLarge, match=limit):
        recognize(pipeline, blank_pages_pdf(2000))


@pytest.mark.parametrize(
    "side", [30_000, 10_000], ids=["beyond-pillow-guard", "beyond-service-limit"]
)
def test_decompression_bomb_is_refused(pipeline, side):
    with pytest.raises(DocumentTooLarge, match="OCR_MAX_IMAGE_PIXELS"):
        recognize(pipeline, decompression_bomb_png(side, side))


def test_pdf_page_too_large_to_rasterise(pipeline):
    # 2 m x 2 m at 600 dpi would be ~2.2 gigapixels.
    content = huge_page_pdf(2000)

    with pytest.raises(DocumentTooLarge, match="lower `dpi`"):
        recognize(pipeline, content, dpi=600, text_layer_policy=ocr_pb2.TEXT_LAYER_POLICY_FORCE_OCR)


@pytest.mark.parametrize("pages", ["0", "3-1", "abc", "1-", "7", "2,,3", "1-9"])
def test_bad_page_selection(pipeline, pages):
    content = text_layer_pdf([["Um."], ["Dois."], ["Três."]])

    with pytest.raises(InvalidDocument, match="`pages`"):
        recognize(pipeline, content, pages=pages)


@pytest.mark.parametrize("dpi", [71, 601, -1])
def test_bad_dpi(pipeline, dpi):
    with pytest.raises(InvalidDocument, match="72-600"):
        recognize(pipeline, text_layer_pdf([["Um."]]), dpi=dpi)


@pytest.mark.parametrize(
    ("languages", "text"),
    [
        (["pt-BR"], "Uma ação rápida e eficiente."),
        (["por", "eng"], "Uma ação rápida e eficiente."),
        (["pt", "en"], "Uma ação rápida e eficiente."),
        (["en-US"], "A quick and efficient action."),
        (["eng"], "A quick and efficient action."),
    ],
)
def test_language_hints(pipeline, languages, text):
    response = recognize(pipeline, encode(render_text([text]), "PNG"), languages=languages)

    assert accuracy(text, response.text) >= TESSERACT_MIN_ACCURACY


@pytest.mark.parametrize("languages", [["xx"], ["klingon"], ["deu"]])
def test_unknown_or_missing_language(pipeline, languages):
    with pytest.raises(InvalidDocument, match="available: eng, por"):
        recognize(pipeline, encode(render_text(["Olá"]), "PNG"), languages=languages)


def test_unknown_engine(pipeline):
    with pytest.raises(InvalidDocument, match="loaded engines: ENGINE_TESSERACT, ENGINE_RAPIDOCR"):
        recognize(pipeline, encode(render_text(["Olá"]), "PNG"), engine=99)


def test_list_engines(pipeline):
    response = pipeline.list_engines()

    assert response.default_engine == ocr_pb2.ENGINE_TESSERACT
    engines = {info.engine: info for info in response.engines}
    assert set(engines) == {ocr_pb2.ENGINE_TESSERACT, ocr_pb2.ENGINE_RAPIDOCR}
    assert all(info.ready for info in engines.values())
    assert {"por", "eng"} <= set(engines[ocr_pb2.ENGINE_TESSERACT].languages)
    assert {"por", "eng"} <= set(engines[ocr_pb2.ENGINE_RAPIDOCR].languages)


def test_mime_type_is_sniffed_not_trusted(pipeline):
    text = "Tipo detectado pelo conteúdo."
    content = encode(render_text([text]), "PNG")

    response = recognize(pipeline, content, mime_type="image/jpeg")

    assert response.mime_type == "image/png"
    assert accuracy(text, response.text) >= TESSERACT_MIN_ACCURACY
    with pytest.raises(InvalidDocument, match="no PDF header"):
        recognize(pipeline, content, mime_type="application/pdf")
