"""gRPC face of the OCR pipeline: paneas.ocr.v1.OcrService."""

import asyncio
import threading

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
        cancelled = threading.Event()
        try:
            # Blocking work (decode, rasterise, recognise) runs off the event loop; the
            # pipeline spreads pages over its own worker pool.
            return await asyncio.to_thread(self._pipeline.recognize, request, cancelled)
        except asyncio.CancelledError:
            # The client went away: free the workers from the pages not started yet.
            cancelled.set()
            raise
        except OcrError as error:
            await abort(context, error)

    async def ListEngines(
        self, request: ocr_pb2.ListEnginesRequest, context: grpc.aio.ServicerContext
    ) -> ocr_pb2.ListEnginesResponse:
        return self._pipeline.list_engines()
