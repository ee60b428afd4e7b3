"""The OCR pipeline: request -> document -> pages recognised in parallel -> response."""

import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait

from PIL import Image, ImageDraw, ImageFont

from paneas.ocr.v1 import ocr_pb2
from paneas.services.ocr.document import Document, DocumentOptions, open_document
from paneas.services.ocr.engines.base import OcrEngine
from paneas.services.ocr.engines.languages import resolve_languages
from paneas.services.ocr.engines.rapidocr import RapidOcrEngine
from paneas.services.ocr.engines.tesseract import TesseractEngine
from paneas.services.ocr.errors import InvalidDocument, OcrBusy, RecognitionCancelled
from paneas.services.ocr.metrics import PAGE_SECONDS, PAGES, SKIPPED_PAGES
from paneas.services.ocr.page_selection import select_pages
from paneas.services.ocr.settings import EngineName, OcrSettings

ENGINE_BY_NAME: dict[EngineName, ocr_pb2.Engine.ValueType] = {
    "tesseract": ocr_pb2.ENGINE_TESSERACT,
    "rapidocr": ocr_pb2.ENGINE_RAPIDOCR,
}
MIN_DPI, MAX_DPI = 72, 600


class OcrPipeline:
    """Thread-safe; all requests share one pool of `settings.workers` page workers."""

    def __init__(self, settings: OcrSettings) -> None:
        self._settings = settings
        self._engines: dict[ocr_pb2.Engine.ValueType, OcrEngine] = {}
        self._executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="ocr-page")
        self._ready = False
        # Pages admitted and not finished (the pool's queue plus its workers), bounded by
        # `max_queued_pages`.
        self._queued_pages = 0
        self._queue_lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def queued_pages(self) -> int:
        """Pages admitted and not finished yet, over every request."""
        return self._queued_pages

    def load(self) -> None:
        """Load every configured engine and warm it up; blocks for seconds."""
        if self._settings.engine not in self._settings.engines:
            raise ValueError(
                f"OCR_ENGINE={self._settings.engine} is not among "
                f"OCR_ENGINES={','.join(self._settings.engines)}"
            )
        for name in dict.fromkeys(self._settings.engines):
            engine = self._create_engine(name)
            self._warm_up(engine)
            self._engines[engine.engine] = engine
        self._ready = True

    def recognize(
        self, request: ocr_pb2.RecognizeRequest, cancelled: threading.Event | None = None
    ) -> ocr_pb2.RecognizeResponse:
        """Recognise the selected pages; raises OcrError subclasses for bad or huge input.

        Setting `cancelled` (the caller went away) skips every page not yet started.
        """
        cancelled = cancelled or threading.Event()
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
        document = open_document(request.content, request.mime_type, options)
        futures: list[Future[ocr_pb2.Page]] = []
        admitted = 0
        try:
            page_numbers = select_pages(request.pages, document.page_count)
            admitted = self._admit(len(page_numbers))
            futures = [
                self._executor.submit(_process_page, document, number, engine, languages, cancelled)
                for number in page_numbers
            ]
            pages = _results(futures)
        finally:
            # The document must outlive every page still being read from it.
            skipped = sum(future.cancel() for future in futures)
            wait(futures)
            SKIPPED_PAGES.inc(skipped)
            document.close()
            with self._queue_lock:
                self._queued_pages -= admitted
        return ocr_pb2.RecognizeResponse(
            pages=pages,
            text="\f".join(page.text for page in pages),
            mime_type=document.mime_type,
            document_page_count=document.page_count,
        )

    def _admit(self, pages: int) -> int:
        """Counts `pages` in, or refuses them when the queue would go over its bound."""
        limit = self._settings.max_queued_pages
        with self._queue_lock:
            if self._queued_pages and self._queued_pages + pages > limit:
                raise OcrBusy(
                    f"the OCR service is busy: {self._queued_pages} pages are queued and this "
                    f"request adds {pages}, over OCR_MAX_QUEUED_PAGES={limit}; retry in "
                    f"{self._settings.retry_after_seconds:g} s",
                    self._settings.retry_after_seconds,
                )
            self._queued_pages += pages
        return pages

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
        self._executor.shutdown(wait=True, cancel_futures=True)
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()

    def _create_engine(self, name: EngineName) -> OcrEngine:
        if name == "tesseract":
            return TesseractEngine(self._settings.tessdata_path, self._settings.workers)
        return RapidOcrEngine(self._settings.workers)

    def _warm_up(self, engine: OcrEngine) -> None:
        # One run per worker, in parallel, so engines that keep one model instance per
        # worker (Tesseract) have them all loaded before the first request.
        languages = resolve_languages(self._settings.languages, engine.languages, engine.name)
        image = _warm_up_image()
        runs = [
            self._executor.submit(engine.recognize, image.copy(), languages)
            for _ in range(self._settings.workers)
        ]
        for run in runs:
            run.result()

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
    document: Document,
    page_number: int,
    engine: OcrEngine,
    languages: list[str],
    cancelled: threading.Event,
) -> ocr_pb2.Page:
    if cancelled.is_set():
        SKIPPED_PAGES.inc()
        raise RecognitionCancelled(f"cancelled before page {page_number}")
    started = time.perf_counter()
    content = document.load_page(page_number)
    page = content if isinstance(content, ocr_pb2.Page) else engine.recognize(content, languages)
    page.page_number = page_number
    page.processing_seconds = time.perf_counter() - started
    labels = (engine.name if page.engine else "none", _SOURCE_LABELS[page.source])
    PAGES.labels(*labels).inc()
    PAGE_SECONDS.labels(*labels).observe(page.processing_seconds)
    return page


_SOURCE_LABELS = {
    ocr_pb2.TEXT_SOURCE_OCR: "ocr",
    ocr_pb2.TEXT_SOURCE_PDF_TEXT_LAYER: "pdf_text_layer",
}


def _results(futures: list[Future[ocr_pb2.Page]]) -> list[ocr_pb2.Page]:
    """Page results in order, or the first page's error as soon as any page fails."""
    wait(futures, return_when=FIRST_EXCEPTION)
    for future in futures:
        if future.done() and future.exception() is not None:
            raise future.exception()
    return [future.result() for future in futures]


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
