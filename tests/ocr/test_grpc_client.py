"""The OCR service as a client meets it: generated stubs over a real channel."""

import grpc
import pytest

from paneas.ocr.v1 import ocr_pb2, ocr_pb2_grpc
from tests.ocr.documents import (
    ENGLISH,
    PORTUGUESE,
    blank_pages_pdf,
    decompression_bomb_png,
    encode,
    image_only_pdf,
    render_text,
    text_layer_pdf,
)
from tests.support.text import accuracy


@pytest.fixture(scope="module")
def stub(ocr_channel) -> ocr_pb2_grpc.OcrServiceStub:
    return ocr_pb2_grpc.OcrServiceStub(ocr_channel)


def test_recognize_portuguese_image(stub, auth_metadata):
    reply = stub.Recognize(
        ocr_pb2.RecognizeRequest(
            content=encode(render_text([PORTUGUESE]), "PNG"), languages=["pt"]
        ),
        metadata=auth_metadata,
        timeout=60,
    )
    assert reply.mime_type == "image/png"
    assert reply.document_page_count == 1
    page = reply.pages[0]
    assert page.source == ocr_pb2.TEXT_SOURCE_OCR
    assert page.engine == ocr_pb2.ENGINE_TESSERACT
    assert accuracy(PORTUGUESE, reply.text) >= 0.98
    words = [word for block in page.blocks for line in block.lines for word in line.words]
    assert words and all(0 <= word.confidence <= 1 for word in words)
    assert all(word.bounding_box.width > 0 for word in words)


def test_recognize_pdf_pages_with_rapidocr(stub, auth_metadata):
    pdf = image_only_pdf([render_text([ENGLISH]), render_text([PORTUGUESE])], dpi=150)
    reply = stub.Recognize(
        ocr_pb2.RecognizeRequest(content=pdf, engine=ocr_pb2.ENGINE_RAPIDOCR, pages="2", dpi=150),
        metadata=auth_metadata,
        timeout=120,
    )
    assert reply.document_page_count == 2
    assert [page.page_number for page in reply.pages] == [2]
    assert reply.pages[0].engine == ocr_pb2.ENGINE_RAPIDOCR
    assert accuracy(PORTUGUESE, reply.pages[0].text) >= 0.9


def test_text_layer_is_reported(stub, auth_metadata):
    reply = stub.Recognize(
        ocr_pb2.RecognizeRequest(content=text_layer_pdf([[ENGLISH]])),
        metadata=auth_metadata,
        timeout=60,
    )
    assert reply.pages[0].source == ocr_pb2.TEXT_SOURCE_PDF_TEXT_LAYER
    assert accuracy(ENGLISH, reply.text) >= 0.99


@pytest.mark.parametrize(
    "content, code, hint",
    [
        (b"", grpc.StatusCode.INVALID_ARGUMENT, "empty"),
        (b"plain text, not a document", grpc.StatusCode.INVALID_ARGUMENT, "image"),
        (
            text_layer_pdf([["secret"]], password="s3cret"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "password",
        ),
        (blank_pages_pdf(2000), grpc.StatusCode.OUT_OF_RANGE, "OCR_MAX_PAGES"),
        (decompression_bomb_png(30000, 30000), grpc.StatusCode.OUT_OF_RANGE, "pixels"),
    ],
    ids=["empty", "not-a-document", "encrypted", "2000-pages", "decompression-bomb"],
)
def test_bad_input_gets_a_clear_status_and_the_service_lives_on(
    stub, auth_metadata, content, code, hint
):
    with pytest.raises(grpc.RpcError) as error:
        stub.Recognize(
            ocr_pb2.RecognizeRequest(content=content), metadata=auth_metadata, timeout=60
        )
    assert error.value.code() is code
    assert hint.lower() in error.value.details().lower()
    alive = stub.ListEngines(ocr_pb2.ListEnginesRequest(), metadata=auth_metadata, timeout=10)
    assert all(engine.ready for engine in alive.engines)


def test_message_over_the_size_limit_is_refused(stub, auth_metadata):
    oversized = b"\0" * (50 * 1024 * 1024 + 1)
    with pytest.raises(grpc.RpcError) as error:
        stub.Recognize(
            ocr_pb2.RecognizeRequest(content=oversized), metadata=auth_metadata, timeout=60
        )
    assert error.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
