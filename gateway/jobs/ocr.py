"""An OCR job's work: the stored document read by `OcrService/Recognize` one page per call,
so the record's progress moves page by page and a cancelled job stops before its next page.

The first call reads the selection's first page and learns from its answer how many pages
the document has; the selection is then checked against that count, with the words the OCR
service would use (`page_selection.select_pages`), and the remaining pages follow one by
one. The pages are joined into the `RecognizeResponse` one call for the whole selection
would have answered, which is stored as protobuf bytes and rendered as `POST /api/v1/ocr`
renders it. Each call sends the whole document again (the service reads one page of it);
the document must fit one gRPC message.
"""

import grpc
import structlog
from sqlalchemy import Row

from paneas.gateway.jobs import metrics
from paneas.gateway.jobs.protocol import OcrConfig
from paneas.gateway.jobs.settings import JobsSettings
from paneas.gateway.jobs.storage import Storage, input_key
from paneas.gateway.jobs.store import JobStore
from paneas.gateway.jobs.work import Cancelled, Done, Failed, call_metadata, grpc_options
from paneas.gateway.settings import GatewaySettings
from paneas.ocr.v1 import ocr_pb2, ocr_pb2_grpc
from paneas.services.ocr.errors import InvalidDocument
from paneas.services.ocr.page_selection import select_pages
from paneas.services.runtime.settings import RuntimeSettings

log = structlog.get_logger("paneas.jobs.ocr")


async def recognize_document(
    job: Row,
    store: JobStore,
    storage: Storage,
    settings: JobsSettings,
    runtime: RuntimeSettings,
) -> Done:
    limit = runtime.grpc_max_message_bytes - 64 * 1024
    if job.input_bytes > limit:
        raise Failed(
            "input_too_large",
            f"the document is {job.input_bytes} bytes; OCR jobs send it to the OCR service in "
            f"one message, at most {limit} bytes (GRPC_MAX_MESSAGE_BYTES)",
        )
    content = await storage.read(input_key(job.id))
    config = OcrConfig.model_validate_json(job.config)
    gateway = GatewaySettings()
    async with grpc.aio.insecure_channel(
        gateway.ocr_target, options=grpc_options(runtime)
    ) as channel:
        stub = ocr_pb2_grpc.OcrServiceStub(channel)

        async def page(number: int) -> ocr_pb2.RecognizeResponse:
            with metrics.CHUNK_SECONDS.labels("ocr").time():
                return await stub.Recognize(
                    config.request(content, str(number)),
                    metadata=call_metadata(runtime, job.id),
                    timeout=gateway.ocr_timeout_seconds,
                )

        first = await page(config.first_page())
        try:
            numbers = select_pages(config.pages, first.document_page_count)
        except InvalidDocument as error:
            # As the OCR service refuses the same selection (INVALID_ARGUMENT).
            raise Failed("invalid_argument", str(error)) from None
        document = ocr_pb2.RecognizeResponse(
            mime_type=first.mime_type, document_page_count=first.document_page_count
        )
        document.pages.extend(first.pages)
        for number in numbers[1:]:
            if not await store.progress(job.id, len(document.pages) / len(numbers), None):
                log.info("ocr job stopped before a page", job_id=job.id, page=number)
                raise Cancelled
            document.pages.extend((await page(number)).pages)
    document.text = "\f".join(page.text for page in document.pages)
    return Done(document.SerializeToString())
