"""Prometheus metrics of every RPC, on the service's metrics port."""

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from paneas.ocr.v1 import ocr_pb2, ocr_pb2_grpc


def samples(url: str) -> dict[tuple, float]:
    text = httpx.get(url).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def handled(values, method: str, code: str) -> float:
    labels = (
        ("grpc_code", code),
        ("grpc_method", method),
        ("grpc_service", "paneas.ocr.v1.OcrService"),
        ("grpc_type", "unary"),
    )
    return values.get(("grpc_server_handled_total", labels), 0.0)


def test_requests_are_counted_by_code(ocr_service, ocr_channel, auth_metadata):
    stub = ocr_pb2_grpc.OcrServiceStub(ocr_channel)
    before = samples(ocr_service.metrics_url)
    stub.ListEngines(ocr_pb2.ListEnginesRequest(), metadata=auth_metadata)
    stub.ListEngines(ocr_pb2.ListEnginesRequest(), metadata=auth_metadata)
    with pytest.raises(grpc.RpcError):
        stub.ListEngines(ocr_pb2.ListEnginesRequest())
    with pytest.raises(grpc.RpcError):
        stub.Recognize(ocr_pb2.RecognizeRequest(content=b""), metadata=auth_metadata)
    after = samples(ocr_service.metrics_url)

    assert handled(after, "ListEngines", "OK") - handled(before, "ListEngines", "OK") == 2
    unauthenticated = handled(after, "ListEngines", "UNAUTHENTICATED")
    assert unauthenticated - handled(before, "ListEngines", "UNAUTHENTICATED") == 1
    invalid = handled(after, "Recognize", "INVALID_ARGUMENT")
    assert invalid - handled(before, "Recognize", "INVALID_ARGUMENT") == 1
    histogram_count = [
        value
        for (name, labels), value in after.items()
        if name == "grpc_server_handling_seconds_count" and ("grpc_method", "ListEngines") in labels
    ]
    assert histogram_count and histogram_count[0] >= 3
    assert any(name == "grpc_server_in_flight" for name, _ in after)
