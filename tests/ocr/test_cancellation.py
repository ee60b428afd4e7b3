"""A client that goes away mid-request frees the page workers at once."""

import time

import grpc
import httpx
from prometheus_client.parser import text_string_to_metric_families

from paneas.ocr.v1 import ocr_pb2, ocr_pb2_grpc
from tests.ocr.documents import ENGLISH, encode, image_only_pdf, render_text


def counter(metrics_url: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(httpx.get(metrics_url).text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def in_flight(metrics_url: str) -> float:
    return counter(metrics_url, "grpc_server_in_flight", grpc_method="Recognize")


def test_cancelled_request_skips_its_remaining_pages(ocr_service, ocr_channel, auth_metadata):
    stub = ocr_pb2_grpc.OcrServiceStub(ocr_channel)
    metrics = ocr_service.metrics_url
    pages_before = counter(metrics, "paneas_ocr_pages_total", engine="tesseract", source="ocr")
    skipped_before = counter(metrics, "paneas_ocr_skipped_pages_total")

    page = render_text([ENGLISH] * 4)
    document = image_only_pdf([page] * 8, dpi=150)
    call = stub.Recognize.future(
        ocr_pb2.RecognizeRequest(content=document, dpi=150), metadata=auth_metadata, timeout=300
    )
    deadline = time.monotonic() + 60
    while in_flight(metrics) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert call.cancel()

    # The pool runs pages first in, first out: had the 8 pages not been dropped, this page
    # would only finish after all of them.
    stub.Recognize(
        ocr_pb2.RecognizeRequest(content=encode(render_text(["short page"]), "PNG")),
        metadata=auth_metadata,
        timeout=300,
    )
    pages_done = counter(metrics, "paneas_ocr_pages_total", engine="tesseract", source="ocr")
    assert pages_done - pages_before < 8 + 1
    assert counter(metrics, "paneas_ocr_skipped_pages_total") > skipped_before
    try:
        call.result()
        raise AssertionError("a cancelled call returned a result")
    except grpc.FutureCancelledError:
        pass
