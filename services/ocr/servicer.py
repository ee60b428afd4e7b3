"""gRPC face of the OCR pipeline: paneas.ocr.v1.OcrService."""

import grpc

from paneas.ocr.v1 import ocr_pb2, ocr_pb2_grpc
from paneas.services.ocr.errors import NotReady, OcrError
from paneas.services.ocr.pipeline import OcrPipeline
from paneas.services.runtime.errors import abort


class OcrServicer(ocr_pb2_grpc.OcrServiceServicer):
    def __init__(self, pipeline: OcrPipeline) -> None:
        self._pipeline = pipeline

    async def Recognize(
        self, request: ocr_pb2.RecognizeRequest, context: grpc.aio.ServicerContext
    ) -> ocr_pb2.RecognizeResponse:
        if not self._pipeline.ready:
            await abort(context, NotReady("OCR engines are still loading; retry in a moment"))
        try:
            # The pipeline runs the blocking work (decode, rasterise, recognise) off the event
            # loop; a client that goes away cancels the pages not started yet.
            return await self._pipeline.recognize(request)
        except OcrError as error:
            await abort(context, error)

    async def ListEngines(
        self, request: ocr_pb2.ListEnginesRequest, context: grpc.aio.ServicerContext
    ) -> ocr_pb2.ListEnginesResponse:
        return self._pipeline.list_engines()
