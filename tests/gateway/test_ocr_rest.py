"""POST /api/v1/ocr through the gateway to the real OCR service."""

import grpc
import httpx
import pytest

from tests.ocr.documents import (
    ENGLISH,
    PORTUGUESE,
    blank_pages_pdf,
    encode,
    render_text,
    text_layer_pdf,
)
from tests.support.text import accuracy

pytestmark = pytest.mark.backends("ocr")


@pytest.fixture(scope="module")
def headers(api_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token}", "X-Request-ID": "rest-ocr-test"}


def post(gateway, headers, content: bytes, name: str, **form: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/api/v1/ocr",
        headers=headers,
        files={"file": (name, content)},
        data=form,
        timeout=120,
    )


def test_image_upload_returns_text_per_page_and_structure(gateway, headers):
    response = post(
        gateway,
        headers,
        encode(render_text([PORTUGUESE, ENGLISH]), "JPEG"),
        "a.jpg",
        languages="pt,en",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert accuracy(f"{PORTUGUESE} {ENGLISH}", body["text"]) >= 0.98
    page = body["pages"][0]
    assert page["source"] == "TEXT_SOURCE_OCR"
    assert page["engine"] == "ENGINE_TESSERACT"
    assert len(page["blocks"]) >= 2
    word = page["blocks"][0]["lines"][0]["words"][0]
    assert set(word["bounding_box"]) == {"left", "top", "width", "height"}


def test_pdf_with_text_layer_says_so(gateway, headers):
    response = post(
        gateway, headers, text_layer_pdf([[ENGLISH], [PORTUGUESE]]), "doc.pdf", pages="2"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["document_page_count"] == 2
    assert [page["page_number"] for page in body["pages"]] == [2]
    assert body["pages"][0]["source"] == "TEXT_SOURCE_PDF_TEXT_LAYER"


@pytest.mark.parametrize(
    "content, name, form, status, code",
    [
        (b"", "empty.png", {}, 400, grpc.StatusCode.INVALID_ARGUMENT),
        (b"%PDF-1.7 broken", "broken.pdf", {}, 400, grpc.StatusCode.INVALID_ARGUMENT),
        # A limit the request will never fit: 400, not a 429 inviting a retry.
        (blank_pages_pdf(2000), "long.pdf", {}, 400, grpc.StatusCode.OUT_OF_RANGE),
        (text_layer_pdf([["x"]]), "doc.pdf", {"pages": "9"}, 400, grpc.StatusCode.INVALID_ARGUMENT),
        (
            text_layer_pdf([["x"]]),
            "doc.pdf",
            {"dpi": "5000"},
            400,
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ],
    ids=["empty", "corrupt-pdf", "too-many-pages", "page-out-of-range", "bad-dpi"],
)
def test_errors_map_to_http_with_a_status_body(gateway, headers, content, name, form, status, code):
    response = post(gateway, headers, content, name, **form)
    assert response.status_code == status, response.text
    assert "retry-after" not in response.headers
    body = response.json()
    assert body["code"] == code.value[0]
    assert body["message"] and body["details"] == []
