"""SIGTERM drains: health NOT_SERVING, new RPCs refused, in-flight RPCs finish, exit 0."""

import threading
import time

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from paneas.ocr.v1 import ocr_pb2, ocr_pb2_grpc
from paneas.services.processes import ServiceProcess, free_port, grpc_serving, wait_until
from tests.ocr.documents import ENGLISH, image_only_pdf, render_text
from tests.support.text import accuracy

# Slow: an OCR service of its own, stopped with SIGTERM (ServiceProcess).
pytestmark = pytest.mark.slow


def in_flight(metrics_url: str) -> float:
    for line in httpx.get(metrics_url).text.splitlines():
        if line.startswith("grpc_server_in_flight{") and 'grpc_method="Recognize"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_sigterm_lets_in_flight_work_finish(api_token, tmp_path):
    port, metrics_port = free_port(), free_port()
    service = ServiceProcess(
        "paneas.services.ocr",
        {
            "API_TOKENS": api_token,
            "OCR_PORT": str(port),
            "OCR_METRICS_PORT": str(metrics_port),
            "OCR_ENGINES": "tesseract",
            "OCR_WORKERS": "1",
        },
        tmp_path / "ocr.log",
    )
    target = f"127.0.0.1:{port}"
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        wait_until(lambda: grpc_serving(target), "OCR service", service.process)
        metadata = (("authorization", f"Bearer {api_token}"),)
        # Four pages of dense text: seconds of work for one worker.
        document = image_only_pdf([render_text([ENGLISH] * 4)] * 4, dpi=150)
        with grpc.insecure_channel(target) as channel:
            stub = ocr_pb2_grpc.OcrServiceStub(channel)
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING

            outcome = {}

            def recognise() -> None:
                try:
                    outcome["reply"] = stub.Recognize(
                        ocr_pb2.RecognizeRequest(
                            content=document,
                            text_layer_policy=ocr_pb2.TEXT_LAYER_POLICY_FORCE_OCR,
                        ),
                        metadata=metadata,
                        timeout=120,
                    )
                except grpc.RpcError as error:
                    outcome["error"] = error

            worker = threading.Thread(target=recognise)
            worker.start()
            wait_until(lambda: in_flight(metrics_url) >= 1, "in-flight RPC", service.process)

            service.process.terminate()
            assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING

            time.sleep(0.3)
            with grpc.insecure_channel(target) as late_channel:
                try:
                    ocr_pb2_grpc.OcrServiceStub(late_channel).ListEngines(
                        ocr_pb2.ListEnginesRequest(), metadata=metadata, timeout=5
                    )
                    raise AssertionError("a draining server accepted a new RPC")
                except grpc.RpcError as error:
                    assert error.code() is grpc.StatusCode.UNAVAILABLE

            worker.join(120)
            assert "error" not in outcome, outcome.get("error")
            reply = outcome["reply"]
            assert [page.page_number for page in reply.pages] == [1, 2, 3, 4]
            assert accuracy(" ".join([ENGLISH] * 4), reply.pages[3].text) >= 0.98
        assert service.process.wait(60) == 0
        assert '"event": "draining"' in service.log_text()
    finally:
        service.stop()
