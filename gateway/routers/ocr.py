"""POST /api/v1/ocr: multipart upload -> paneas.ocr.v1.OcrService/Recognize."""

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from paneas.gateway import calls
from paneas.gateway.auth import require_token
from paneas.gateway.metadata import grpc_metadata
from paneas.gateway.ocr.options import ENGINES, TEXT_LAYERS, EngineName, TextLayer
from paneas.gateway.protojson import to_json
from paneas.ocr.v1 import ocr_pb2

router = APIRouter(tags=["ocr"], dependencies=[Depends(require_token)])


@router.post("/api/v1/ocr", summary="Recognise the text of an image or PDF")
async def recognize(
    request: Request,
    file: Annotated[UploadFile, File(description="Image (PNG, JPEG, TIFF, WebP) or PDF")],
    languages: Annotated[str, Form(description="Comma-separated hints, e.g. 'pt,en'")] = "",
    engine: Annotated[EngineName, Form()] = "",
    pages: Annotated[str, Form(description="1-based pages, e.g. '1-3,7'; all if empty")] = "",
    dpi: Annotated[
        int, Form(ge=0, le=600, description="PDF rasterisation DPI (72-600); default if 0")
    ] = 0,
    text_layer: Annotated[TextLayer, Form()] = "auto",
    password: Annotated[str, Form(description="Password of an encrypted PDF")] = "",
) -> dict:
    grpc_request = ocr_pb2.RecognizeRequest(
        content=await file.read(),
        mime_type=file.content_type or "",
        languages=[code.strip() for code in languages.split(",") if code.strip()],
        engine=ENGINES[engine],
        pages=pages,
        dpi=dpi,
        text_layer_policy=TEXT_LAYERS[text_layer],
        password=password,
    )
    state = request.app.state
    deadline = calls.deadline(request, state.settings.ocr_timeout_seconds)
    call = state.backends.ocr.Recognize(
        grpc_request, metadata=grpc_metadata(request), timeout=deadline
    )
    # A client that leaves cancels the call, which frees the service's page workers.
    return to_json(await calls.unary(request, call, "/paneas.ocr.v1.OcrService/Recognize"))
