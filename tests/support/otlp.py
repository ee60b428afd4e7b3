"""A minimal OTLP/gRPC trace receiver (no OpenTelemetry Collector ships in any registry we
reach): it speaks the real OTLP protocol, so exporters are tested end to end."""

import threading
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from paneas.services.processes import free_port


class OtlpCollector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.port = free_port()
        self._spans: list[dict] = []
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        self._server.add_insecure_port(f"127.0.0.1:{self.port}")
        self._server.start()

    def Export(self, request, context):
        with self._lock:
            for resource_spans in request.resource_spans:
                resource = {
                    attr.key: attr.value.string_value for attr in resource_spans.resource.attributes
                }
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self._spans.append(
                            {
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "service": resource.get("service.name"),
                            }
                        )
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[dict]:
        with self._lock:
            return list(self._spans)

    def stop(self) -> None:
        self._server.stop(0)
