"""The page pool's queue is bounded: a request that would queue more than
OCR_MAX_QUEUED_PAGES behind the others is refused with a retry hint (real Tesseract)."""

import asyncio

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
    asyncio.run(pipeline.load())
    yield pipeline
    pipeline.close()


async def test_a_request_beyond_the_queue_bound_is_refused_and_served_once_it_drains(
    small_pipeline,
):
    page = render_text([ENGLISH])
    # Rasterised at 300 dpi: seconds of work, so it is still queued when the next one comes.
    long_document = image_only_pdf([page] * MAX_QUEUED_PAGES, 150)
    one_page = encode(page, "PNG")
    first = asyncio.create_task(
        small_pipeline.recognize(ocr_pb2.RecognizeRequest(content=long_document, dpi=300))
    )
    async with asyncio.timeout(60):
        while small_pipeline.queued_pages == 0:
            assert not first.done(), "the first request never ran"
            await asyncio.sleep(0.01)
    with pytest.raises(OcrBusy) as refused:
        await small_pipeline.recognize(ocr_pb2.RecognizeRequest(content=one_page))
    assert "OCR_MAX_QUEUED_PAGES=4" in str(refused.value)
    assert refused.value.retry_after > 0
    async with asyncio.timeout(300):
        finished = await first
    assert len(finished.pages) == MAX_QUEUED_PAGES
    assert small_pipeline.queued_pages == 0
    assert (await small_pipeline.recognize(ocr_pb2.RecognizeRequest(content=one_page))).text


async def test_a_document_over_the_bound_is_taken_when_nothing_waits(small_pipeline):
    blank = render_text([""])
    document = image_only_pdf([blank] * (MAX_QUEUED_PAGES + 1), 72)
    response = await small_pipeline.recognize(ocr_pb2.RecognizeRequest(content=document, dpi=72))
    assert len(response.pages) == MAX_QUEUED_PAGES + 1
