"""The OCR pipeline: request -> document -> pages recognised in parallel -> response."""

import asyncio
import time
from functools import partial

from PIL import Image, ImageDraw, ImageFont

from paneas.ocr.v1 import ocr_pb2
from paneas.services.ocr.document import Document, DocumentOptions, open_document
from paneas.services.ocr.engines.base import OcrEngine
from paneas.services.ocr.engines.languages import resolve_languages
from paneas.services.ocr.engines.rapidocr import RapidOcrEngine
from paneas.services.ocr.engines.tesseract import TesseractEngine
from paneas.services.ocr.errors import InvalidDocument, OcrBusy
from paneas.services.ocr.metrics import PAGE_SECONDS, PAGES, SKIPPED_PAGES
from paneas.services.ocr.page_selection import select_pages
from paneas.services.ocr.settings import EngineName, OcrSettings
from paneas.services.runtime.admission import Admission

ENGINE_BY_NAME: dict[EngineName, ocr_pb2.Engine.ValueType] = {
    "tesseract": ocr_pb2.ENGINE_TESSERACT,
    "rapidocr": ocr_pb2.ENGINE_RAPIDOCR,
}
MIN_DPI, MAX_DPI = 72, 600


class OcrPipeline:
    """Used from the event loop; all requests share `settings.workers` page workers."""

    def __init__(self, settings: OcrSettings) -> None:
        self._settings = settings
        self._engines: dict[ocr_pb2.Engine.ValueType, OcrEngine] = {}
        limit = settings.max_queued_pages
        # A request is admitted with all its pages or refused. OCR_MAX_QUEUED_PAGES counts the
        # pages being recognised too: the wait line is what the workers leave of it.
        self._pages = Admission(
            settings.workers,
            limit - settings.workers,
            settings.retry_after_seconds,
            work="the OCR service",
            threads="ocr-page",
            overloaded=OcrBusy,
            load=lambda pages, adding: (
                f"{pages.admitted} pages are queued and this request adds {adding}, over "
                f"OCR_MAX_QUEUED_PAGES={limit}"
            ),
        )
        self._ready = False

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def queued_pages(self) -> int:
        """Pages admitted and not finished yet, over every request."""
        return self._pages.admitted

    async def load(self) -> None:
        """Load every configured engine and warm it up; takes seconds."""
        if self._settings.engine not in self._settings.engines:
            raise ValueError(
                f"OCR_ENGINE={self._settings.engine} is not among "
                f"OCR_ENGINES={','.join(self._settings.engines)}"
            )
        for name in dict.fromkeys(self._settings.engines):
            engine = await self._pages.run(partial(self._create_engine, name))
            await self._warm_up(engine)
            self._engines[engine.engine] = engine
        self._ready = True

    async def recognize(self, request: ocr_pb2.RecognizeRequest) -> ocr_pb2.RecognizeResponse:
        """Recognise the selected pages; raises OcrError subclasses for bad or huge input.

        Cancelling it (the caller went away) skips every page not yet started.
        """
        engine = self._engine_for(request.engine)
        languages = resolve_languages(
            list(request.languages) or self._settings.languages, engine.languages, engine.name
        )
        options = DocumentOptions(
            dpi=self._dpi_for(request.dpi),
            text_layer_policy=_checked_policy(request.text_layer_policy),
            password=request.password,
            max_pages=self._settings.max_pages,
            max_image_pixels=self._settings.max_image_pixels,
        )
        # Decoding and its limits run before the request is admitted: it is not a page's work.
        opening = asyncio.ensure_future(
            asyncio.to_thread(open_document, request.content, request.mime_type, options)
        )
        try:
            document = await asyncio.shield(opening)
        except asyncio.CancelledError:
            # A PDF must be closed under pdfium's lock, never by the garbage collector: the
            # one still opening is closed once open.
            opening.add_done_callback(_close_opened)
            raise
        try:
            page_numbers = select_pages(request.pages, document.page_count)
            with self._pages.admit(len(page_numbers)):
                pages = await self._recognize_pages(document, page_numbers, engine, languages)
        finally:
            document.close()
        return ocr_pb2.RecognizeResponse(
            pages=pages,
            text="\f".join(page.text for page in pages),
            mime_type=document.mime_type,
            document_page_count=document.page_count,
        )

    async def _recognize_pages(
        self, document: Document, page_numbers: list[int], engine: OcrEngine, languages: list[str]
    ) -> list[ocr_pb2.Page]:
        """The pages in order, or the first page's error as soon as any page fails."""
        tasks = [
            asyncio.create_task(self._recognize_page(document, number, engine, languages))
            for number in page_numbers
        ]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:
                task.cancel()
            # The document must outlive every page still being read from it (a cancelled
            # page's `run` returns once its thread has let go).
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _recognize_page(
        self, document: Document, page_number: int, engine: OcrEngine, languages: list[str]
    ) -> ocr_pb2.Page:
        started = False

        def process() -> ocr_pb2.Page:
            nonlocal started
            started = True
            return _process_page(document, page_number, engine, languages)

        try:
            async with self._pages.slot():
                return await self._pages.run(process)
        finally:
            if not started:
                SKIPPED_PAGES.inc()

    def list_engines(self) -> ocr_pb2.ListEnginesResponse:
        response = ocr_pb2.ListEnginesResponse(default_engine=ENGINE_BY_NAME[self._settings.engine])
        for name in dict.fromkeys(self._settings.engines):
            loaded = self._engines.get(ENGINE_BY_NAME[name])
            response.engines.add(
                engine=ENGINE_BY_NAME[name],
                languages=loaded.languages if loaded else [],
                ready=loaded is not None,
            )
        return response

    def close(self) -> None:
        self._ready = False
        # The engines go next: no page may still be using them.
        self._pages.close(wait=True)
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()

    def _create_engine(self, name: EngineName) -> OcrEngine:
        if name == "tesseract":
            return TesseractEngine(self._settings.tessdata_path, self._settings.workers)
        return RapidOcrEngine(self._settings.workers)

    async def _warm_up(self, engine: OcrEngine) -> None:
        # One run per worker, in parallel, so engines that keep one model instance per
        # worker (Tesseract) have them all loaded before the first request.
        languages = resolve_languages(self._settings.languages, engine.languages, engine.name)
        image = _warm_up_image()
        await asyncio.gather(
            *(
                self._pages.run(partial(engine.recognize, image.copy(), languages))
                for _ in range(self._settings.workers)
            )
        )

    def _engine_for(self, requested: ocr_pb2.Engine.ValueType) -> OcrEngine:
        if not self._engines:
            raise RuntimeError("OcrPipeline.load() has not completed")
        wanted = requested or ENGINE_BY_NAME[self._settings.engine]
        if wanted not in self._engines:
            loaded = ", ".join(ocr_pb2.Engine.Name(engine) for engine in self._engines)
            raise InvalidDocument(
                f"engine {_engine_name(wanted)} is not loaded in this service; "
                f"loaded engines: {loaded}"
            )
        return self._engines[wanted]

    def _dpi_for(self, requested: int) -> int:
        if requested == 0:
            return self._settings.dpi
        if not MIN_DPI <= requested <= MAX_DPI:
            raise InvalidDocument(
                f"`dpi` {requested} is out of range; use {MIN_DPI}-{MAX_DPI}, "
                f"or 0 for the service default ({self._settings.dpi})"
            )
        return requested


def _process_page(
    document: Document, page_number: int, engine: OcrEngine, languages: list[str]
) -> ocr_pb2.Page:
    started = time.perf_counter()
    content = document.load_page(page_number)
    page = content if isinstance(content, ocr_pb2.Page) else engine.recognize(content, languages)
    page.page_number = page_number
    page.processing_seconds = time.perf_counter() - started
    labels = (engine.name if page.engine else "none", _SOURCE_LABELS[page.source])
    PAGES.labels(*labels).inc()
    PAGE_SECONDS.labels(*labels).observe(page.processing_seconds)
    return page


def _close_opened(opening: "asyncio.Future[Document]") -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()


_SOURCE_LABELS = {
    ocr_pb2.TEXT_SOURCE_OCR: "ocr",
    ocr_pb2.TEXT_SOURCE_PDF_TEXT_LAYER: "pdf_text_layer",
}


def _checked_policy(policy: int) -> ocr_pb2.TextLayerPolicy.ValueType:
    if policy not in ocr_pb2.TextLayerPolicy.values():
        raise InvalidDocument(
            f"`text_layer_policy` {policy} is unknown; use "
            f"{', '.join(ocr_pb2.TextLayerPolicy.keys())}"
        )
    return policy


def _engine_name(engine: int) -> str:
    if engine in ocr_pb2.Engine.values():
        return ocr_pb2.Engine.Name(engine)
    return str(engine)


def _warm_up_image() -> Image.Image:
    image = Image.new("L", (320, 64), "white")
    ImageDraw.Draw(image).text((12, 16), "Paneas OCR 123", fill=0, font=ImageFont.load_default(28))
    return image
