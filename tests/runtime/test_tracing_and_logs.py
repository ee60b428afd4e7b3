"""Every RPC is traced over OTLP and logged as JSON carrying its request id and trace id."""

import json
import time

from paneas.ocr.v1 import ocr_pb2, ocr_pb2_grpc


def test_rpc_span_exported_and_log_line_correlated(
    ocr_service, ocr_channel, auth_metadata, otlp_collector
):
    request_id = "test-trace-correlation-1"
    ocr_pb2_grpc.OcrServiceStub(ocr_channel).ListEngines(
        ocr_pb2.ListEnginesRequest(),
        metadata=(*auth_metadata, ("x-request-id", request_id)),
    )

    deadline = time.monotonic() + 15
    line = None
    while time.monotonic() < deadline and line is None:
        for raw in ocr_service.process.log_text().splitlines():
            if request_id in raw:
                line = json.loads(raw)
        time.sleep(0.2)
    assert line is not None, "no access-log line for the request"
    assert line["event"] == "rpc"
    assert line["rpc"] == "/paneas.ocr.v1.OcrService/ListEngines"
    assert line["code"] == "OK"
    assert line["service"] == "ocr"
    assert len(line["trace_id"]) == 32

    span = None
    while time.monotonic() < deadline and span is None:
        span = next((s for s in otlp_collector.spans() if s["trace_id"] == line["trace_id"]), None)
        time.sleep(0.2)
    assert span is not None, "the RPC's span never reached the OTLP collector"
    assert span["name"] == "/paneas.ocr.v1.OcrService/ListEngines"
    assert span["service"] == "ocr"
