"""Every service's errors carry their gRPC status (services/runtime/errors.py), a servicer ends
the call with it, and the gateway turns it into the HTTP status a client can act on.

In process: the OCR servicer on a real grpc.aio server with a pipeline that only refuses, no
engines loaded.
"""

from contextlib import asynccontextmanager

import grpc
import pytest

from paneas.gateway.errors import grpc_error_response
from paneas.ocr.v1 import ocr_pb2, ocr_pb2_grpc
from paneas.services.asr import errors as asr_errors
from paneas.services.llm import errors as llm_errors
from paneas.services.ocr import errors as ocr_errors
from paneas.services.ocr.servicer import OcrServicer
from paneas.services.runtime import wire
from paneas.services.tts import errors as tts_errors


class RefusingPipeline:
    """Stands in for OcrPipeline: refuses every document with `error`."""

    def __init__(self, error: Exception | None, ready: bool = True) -> None:
        self.error = error
        self.ready = ready

    async def recognize(self, request):
        raise self.error


@asynccontextmanager
async def ocr_stub(pipeline: RefusingPipeline):
    server = grpc.aio.server()
    ocr_pb2_grpc.add_OcrServiceServicer_to_server(OcrServicer(pipeline), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield ocr_pb2_grpc.OcrServiceStub(channel)
    finally:
        await server.stop(None)


async def refusal_of(pipeline: RefusingPipeline) -> grpc.aio.AioRpcError:
    async with ocr_stub(pipeline) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Recognize(ocr_pb2.RecognizeRequest(content=b"%PDF-"), timeout=10)
    return caught.value


@pytest.mark.parametrize(
    "error, code, http_status, retry_after",
    [
        # Over a limit: the same document will never be served, so no invitation to retry.
        (
            ocr_errors.DocumentTooLarge("2000 pages, over OCR_MAX_PAGES=500"),
            grpc.StatusCode.OUT_OF_RANGE,
            400,
            None,
        ),
        # Busy: the same document will be served later, after the hinted wait (rounded up).
        (
            ocr_errors.OcrBusy("500 pages are queued", 2.5),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            429,
            "3",
        ),
        (
            ocr_errors.InvalidDocument("`content` is empty"),
            grpc.StatusCode.INVALID_ARGUMENT,
            400,
            None,
        ),
    ],
    ids=["too-large", "busy", "invalid"],
)
async def test_ocr_refusals_reach_http_with_their_own_status(error, code, http_status, retry_after):
    refused = await refusal_of(RefusingPipeline(error))
    assert refused.code() is code
    assert refused.details() == str(error)

    response = grpc_error_response("/api/v1/ocr", refused)
    assert response.status_code == http_status
    assert response.headers.get("retry-after") == retry_after


async def test_ocr_while_loading_is_unavailable():
    refused = await refusal_of(RefusingPipeline(None, ready=False))
    assert refused.code() is grpc.StatusCode.UNAVAILABLE
    assert "loading" in refused.details()
    assert grpc_error_response("/api/v1/ocr", refused).status_code == 503


@pytest.mark.parametrize(
    "overloaded, service_base",
    [
        (asr_errors.Overloaded("every slot is taken", 1.5), asr_errors.AsrError),
        (tts_errors.Overloaded("every worker is busy", 1.5), tts_errors.TtsError),
        (llm_errors.Overloaded("every engine is busy", 1.5), llm_errors.LlmError),
        (ocr_errors.OcrBusy("the page queue is full", 1.5), ocr_errors.OcrError),
    ],
    ids=["asr", "tts", "llm", "ocr"],
)
def test_every_overload_is_resource_exhausted_with_its_retry_hint(overloaded, service_base):
    # The servicer catches its own base: the shared kind must still be one.
    assert isinstance(overloaded, service_base)
    assert overloaded.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (wire.RETRY_AFTER_MS, "1500") in overloaded.trailing_metadata()


@pytest.mark.parametrize(
    "too_large, service_base",
    [
        (asr_errors.AudioTooLong("over ASR_MAX_AUDIO_SECONDS"), asr_errors.AsrError),
        (asr_errors.ChunkTooLarge("chunk over the limit"), asr_errors.AsrError),
        (tts_errors.AudioTooLarge("answer over the message limit"), tts_errors.TtsError),
        (ocr_errors.DocumentTooLarge("over OCR_MAX_PAGES"), ocr_errors.OcrError),
    ],
    ids=["asr-audio", "asr-chunk", "tts-audio", "ocr-document"],
)
def test_every_limit_is_out_of_range_without_a_retry_hint(too_large, service_base):
    assert isinstance(too_large, service_base)
    assert too_large.code is grpc.StatusCode.OUT_OF_RANGE
    assert too_large.trailing_metadata() == ()


def test_llm_errors_carry_openais_code_and_param_before_the_retry_hint():
    assert llm_errors.Overloaded("busy", 0.25).trailing_metadata() == (
        (wire.ERROR_CODE, "rate_limit_exceeded"),
        (wire.RETRY_AFTER_MS, "250"),
    )
    assert llm_errors.UnknownModel("no such model", param="model").trailing_metadata() == (
        (wire.ERROR_CODE, "model_not_found"),
        (wire.ERROR_PARAM, "model"),
    )
    assert llm_errors.UnknownModel("no such model").code is grpc.StatusCode.NOT_FOUND
