"""The names the OCR routes take for the contract's enums (`POST /api/v1/ocr`'s form fields,
an OCR job's config)."""

from typing import Literal

from paneas.ocr.v1 import ocr_pb2

EngineName = Literal["", "tesseract", "rapidocr"]
TextLayer = Literal["auto", "force_ocr"]

ENGINES: dict[EngineName, ocr_pb2.Engine.ValueType] = {
    "": ocr_pb2.ENGINE_UNSPECIFIED,
    "tesseract": ocr_pb2.ENGINE_TESSERACT,
    "rapidocr": ocr_pb2.ENGINE_RAPIDOCR,
}
TEXT_LAYERS: dict[TextLayer, ocr_pb2.TextLayerPolicy.ValueType] = {
    "auto": ocr_pb2.TEXT_LAYER_POLICY_AUTO,
    "force_ocr": ocr_pb2.TEXT_LAYER_POLICY_FORCE_OCR,
}
