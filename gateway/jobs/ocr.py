"""An OCR job's work: the stored document read by `OcrService/Recognize` one page per call,
so the record's progress moves page by page and a cancelled job stops before its next page.

The first call reads the selection's first page and learns from its answer how many pages
the document has; the selection is then checked against that count, with the words the OCR
service would use (`page_selection.select_pages`), and the remaining pages follow,
JOBS_CHUNK_CONCURRENCY at a time (spread over the OCR instances by Envoy). Each page's answer
is stored (`<job>/pages/<number>.pb`) before it counts, as transcription chunks are, so a
task delivered again reads only the pages not stored yet. The pages are joined into the
`RecognizeResponse` one call for the whole selection would have answered, which is stored as
protobuf bytes and rendered as `POST /api/v1/ocr` renders it. Each call sends the whole
document again (the service reads one page of it); the document must fit one gRPC message.
"""

import asyncio

import grpc
import structlog
from sqlalchemy import Row

from paneas.gateway.jobs import metrics
from paneas.gateway.jobs.protocol import OcrConfig
from paneas.gateway.jobs.settings import JobsSettings
from paneas.gateway.jobs.storage import Storage, input_key, one_chunk
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

        async def stored_page(number: int) -> ocr_pb2.RecognizeResponse:
            key = page_key(job.id, number)
            try:
                return ocr_pb2.RecognizeResponse.FromString(await storage.read(key))
            except FileNotFoundError:
                answer = await page(number)
                await storage.write(key, one_chunk(answer.SerializeToString()))
                return answer

        first = await stored_page(config.first_page())
        try:
            numbers = select_pages(config.pages, first.document_page_count)
        except InvalidDocument as error:
            # As the OCR service refuses the same selection (INVALID_ARGUMENT).
            raise Failed("invalid_argument", str(error)) from None
        read: dict[int, ocr_pb2.RecognizeResponse] = {numbers[0]: first}
        slots = asyncio.Semaphore(settings.chunk_concurrency)
        stopped = asyncio.Event()

        async def next_page(number: int) -> None:
            async with slots:
                if stopped.is_set():
                    return
                if not await store.progress(job.id, len(read) / len(numbers), None):
                    log.info("ocr job stopped before a page", job_id=job.id, page=number)
                    stopped.set()
                    return
                read[number] = await stored_page(number)

        await asyncio.gather(*(next_page(number) for number in numbers[1:]))
        if stopped.is_set():
            raise Cancelled
    document = ocr_pb2.RecognizeResponse(
        mime_type=first.mime_type, document_page_count=first.document_page_count
    )
    for number in numbers:
        document.pages.extend(read[number].pages)
    document.text = "\f".join(page.text for page in document.pages)
    return Done(document.SerializeToString())


def page_key(job_id: str, number: int) -> str:
    return f"{job_id}/pages/{number}.pb"
