"""OCR jobs end to end on real processes: Redis, one worker, the suite's OCR service (no ASR)
and a gateway of this module's own with jobs on."""

import json
import time

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from paneas.ocr.v1 import ocr_pb2, ocr_pb2_grpc
from paneas.services.processes import wait_until
from tests.conftest import start_gateway
from tests.jobs.conftest import finished, start_jobs_worker
from tests.ocr.documents import (
    ENGLISH,
    PORTUGUESE,
    encode,
    image_only_pdf,
    render_text,
    text_layer_pdf,
)


@pytest.fixture(scope="module")
def jobs_worker(jobs_env, ocr_service, api_token, tmp_path_factory):
    env = {**jobs_env, "API_TOKENS": api_token, "GATEWAY_OCR_TARGET": ocr_service.target}
    worker = start_jobs_worker(env, tmp_path_factory.mktemp("jobs-worker"))
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def jobs_gateway(jobs_env, jobs_worker, ocr_service, api_token, tmp_path_factory):
    running = start_gateway(
        api_token,
        ocr_service.target,
        tmp_path_factory.mktemp("jobs-gateway"),
        ANALYTICS_ENABLED="false",
        **jobs_env,
    )
    yield running
    running.process.stop()


@pytest.fixture(scope="module")
def ocr(ocr_channel) -> ocr_pb2_grpc.OcrServiceStub:
    return ocr_pb2_grpc.OcrServiceStub(ocr_channel)


def submit_document(client: httpx.Client, content: bytes, name: str, **config: object) -> dict:
    answer = client.post(
        "/api/v1/jobs",
        files={"file": (name, content)},
        data={"type": "ocr", "config": json.dumps(config)},
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["type"] == "ocr"
    return answer.json()


def ocr_pages_done(metrics_url: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(httpx.get(metrics_url).text):
        for sample in family.samples:
            if sample.name == "paneas_ocr_pages_total" and sample.labels.get("source") == "ocr":
                total += sample.value
    return total


def test_a_scanned_document_is_read_page_by_page(client, ocr, auth_metadata):
    pages = [render_text([text]) for text in (ENGLISH, PORTUGUESE, ENGLISH)]
    document = image_only_pdf(pages, dpi=150)
    job = submit_document(client, document, "scan.pdf", languages="en,pt", dpi=150)
    seen: set[float] = set()
    deadline = time.monotonic() + 300
    while (current := client.get(f"/api/v1/jobs/{job['id']}").json())["status"] not in (
        "succeeded",
        "failed",
    ):
        seen.add(current["progress"])
        assert time.monotonic() < deadline, current
        time.sleep(0.1)
    assert current["status"] == "succeeded", current
    # Progress moved a page at a time (pages take seconds each; polled every 0.1 s).
    assert any(0 < progress < 1 for progress in seen), seen
    assert all(abs(progress * 3 - round(progress * 3)) < 1e-6 for progress in seen), seen
    assert current["progress"] == 1.0 and current["input"]["duration_seconds"] is None

    # The same document through the synchronous service, in one call: the same pages.
    whole = ocr.Recognize(
        ocr_pb2.RecognizeRequest(content=document, languages=["en", "pt"], dpi=150),
        metadata=auth_metadata,
        timeout=300,
    )
    result = current["result"]
    assert [page["page_number"] for page in result["pages"]] == [1, 2, 3]
    assert result["document_page_count"] == 3 and result["mime_type"] == "application/pdf"
    assert result["text"] == whole.text and "quick brown fox" in result["text"]
    assert [page["text"] for page in result["pages"]] == [page.text for page in whole.pages]

    text = client.get(f"/api/v1/jobs/{job['id']}/result", params={"format": "text"})
    assert text.status_code == 200 and text.text == whole.text.strip() + "\n"
    assert client.get(f"/api/v1/jobs/{job['id']}/result").json() == result
    srt = client.get(f"/api/v1/jobs/{job['id']}/result", params={"format": "srt"})
    assert srt.status_code == 400 and "use one of json, text" in srt.json()["message"]


def test_a_page_range_reads_only_its_pages(client):
    document = text_layer_pdf([[ENGLISH], [PORTUGUESE], [ENGLISH], [PORTUGUESE]])
    job = finished(client, submit_document(client, document, "doc.pdf", pages="2-3")["id"])
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert [page["page_number"] for page in result["pages"]] == [2, 3]
    assert result["document_page_count"] == 4
    assert [page["source"] for page in result["pages"]] == ["TEXT_SOURCE_PDF_TEXT_LAYER"] * 2
    assert "educação" in result["pages"][0]["text"] and "fox" in result["pages"][1]["text"]


@pytest.mark.parametrize(
    ("content", "name", "config", "request_"),
    [
        (b"%PDF-1.7 broken", "broken.pdf", {}, ocr_pb2.RecognizeRequest()),
        (text_layer_pdf([["x"]]), "doc.pdf", {"pages": "9"}, ocr_pb2.RecognizeRequest(pages="9")),
    ],
    ids=["undecodable", "page-out-of-range"],
)
def test_failures_say_what_the_synchronous_route_says(
    client, ocr, auth_metadata, content, name, config, request_
):
    request_.content = content
    with pytest.raises(grpc.RpcError) as refused:
        ocr.Recognize(request_, metadata=auth_metadata, timeout=60)
    job = finished(client, submit_document(client, content, name, **config)["id"])
    assert job["status"] == "failed", job
    assert job["error"] == {"code": "invalid_argument", "message": refused.value.details()}
    assert client.get(f"/api/v1/jobs/{job['id']}/result").status_code == 409


def test_cancelling_stops_the_remaining_pages(client, jobs_worker, ocr_service):
    pages = 8
    document = image_only_pdf([render_text([ENGLISH] * 3)] * pages, dpi=150)
    before = ocr_pages_done(ocr_service.metrics_url)
    job_id = submit_document(client, document, "long.pdf", dpi=150)["id"]
    wait_until(
        lambda: client.get(f"/api/v1/jobs/{job_id}").json()["progress"] > 0,
        "the first page read",
        jobs_worker.process,
        timeout=120,
    )
    cancelled = client.delete(f"/api/v1/jobs/{job_id}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    wait_until(
        lambda: (
            "ocr job stopped before a page" in jobs_worker.log_text()
            and job_id in jobs_worker.log_text()
        ),
        "the worker stopping before the next page",
        jobs_worker.process,
        timeout=60,
    )
    # The page being read when the job was cancelled is finished; none after it is started.
    assert ocr_pages_done(ocr_service.metrics_url) - before < pages
    assert client.get(f"/api/v1/jobs/{job_id}").json()["status"] == "cancelled"


def test_a_png_is_one_page(client):
    png = encode(render_text([ENGLISH]), "PNG")
    job = finished(client, submit_document(client, png, "page.png", engine="tesseract")["id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["document_page_count"] == 1 and "fox" in job["result"]["text"]
