"""The page pool's queue is bounded: a request that would queue more than
OCR_MAX_QUEUED_PAGES behind the others is refused with a retry hint (real Tesseract)."""

import threading
import time

import pytest

from paneas.ocr.v1 import ocr_pb2
from paneas.services.ocr.errors import OcrBusy
from paneas.services.ocr.pipeline import OcrPipeline
from paneas.services.ocr.settings import OcrSettings
from tests.ocr.documents import ENGLISH, encode, image_only_pdf, render_text

MAX_QUEUED_PAGES = 4


@pytest.fixture(scope="module")
def small_pipeline():
    pipeline = OcrPipeline(
        OcrSettings(
            engine="tesseract",
            engines=["tesseract"],
            languages=["eng"],
            workers=1,
            dpi=150,
            max_queued_pages=MAX_QUEUED_PAGES,
        )
    )
    pipeline.load()
    yield pipeline
    pipeline.close()


def test_a_request_beyond_the_queue_bound_is_refused_and_served_once_it_drains(small_pipeline):
    page = render_text([ENGLISH])
    # Rasterised at 300 dpi: seconds of work, so it is still queued when the next one comes.
    long_document = image_only_pdf([page] * MAX_QUEUED_PAGES, 150)
    one_page = encode(page, "PNG")
    finished: list[ocr_pb2.RecognizeResponse] = []
    first = threading.Thread(
        target=lambda: finished.append(
            small_pipeline.recognize(ocr_pb2.RecognizeRequest(content=long_document, dpi=300))
        )
    )
    first.start()
    deadline = time.monotonic() + 60
    while small_pipeline.queued_pages == 0:
        assert time.monotonic() < deadline and first.is_alive(), "the first request never ran"
        time.sleep(0.01)
    with pytest.raises(OcrBusy) as refused:
        small_pipeline.recognize(ocr_pb2.RecognizeRequest(content=one_page))
    assert "OCR_MAX_QUEUED_PAGES=4" in str(refused.value)
    assert refused.value.retry_after > 0
    first.join(300)
    assert len(finished[0].pages) == MAX_QUEUED_PAGES
    assert small_pipeline.queued_pages == 0
    assert small_pipeline.recognize(ocr_pb2.RecognizeRequest(content=one_page)).text


def test_a_document_over_the_bound_is_taken_when_nothing_waits(small_pipeline):
    blank = render_text([""])
    document = image_only_pdf([blank] * (MAX_QUEUED_PAGES + 1), 72)
    response = small_pipeline.recognize(ocr_pb2.RecognizeRequest(content=document, dpi=72))
    assert len(response.pages) == MAX_QUEUED_PAGES + 1
