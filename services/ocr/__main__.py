"""`python -m paneas.services.ocr` (or `paneas-ocr`): the OCR gRPC service."""

import asyncio
import os

# Tesseract's OpenMP threads fight the page workers for the cores; one thread per page is
# faster overall (Tesseract's own advice for parallel use). Read when libgomp loads.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")


from paneas.ocr.v1 import ocr_pb2, ocr_pb2_grpc
from paneas.services.ocr.pipeline import OcrPipeline
from paneas.services.ocr.servicer import OcrServicer
from paneas.services.ocr.settings import OcrSettings
from paneas.services.runtime.server import GrpcService, ServiceRegistration

SERVICE_NAME = ocr_pb2.DESCRIPTOR.services_by_name["OcrService"].full_name


async def serve(settings: OcrSettings) -> None:
    pipeline = OcrPipeline(settings)
    service = GrpcService("ocr", settings)
    registration = ServiceRegistration(
        SERVICE_NAME, ocr_pb2_grpc.add_OcrServiceServicer_to_server, OcrServicer(pipeline)
    )
    await service.run([registration], load=pipeline.load, close=pipeline.close)


def main() -> None:
    asyncio.run(serve(OcrSettings()))


if __name__ == "__main__":
    main()
