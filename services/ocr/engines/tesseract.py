"""Tesseract 5 (LSTM) through tesserocr."""

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import tesserocr
from PIL import Image
from tesserocr import RIL, PyTessBaseAPI

from paneas.ocr.v1 import ocr_pb2
from paneas.services.ocr.layout import Box, RecognizedLine, RecognizedWord, build_page

# Traineddata files that are not languages: orientation/script detection and equations.
NON_LANGUAGE_MODELS = {"osd", "equ"}
# Below this Tesseract ignores the declared resolution anyway and estimates its own.
MIN_SOURCE_DPI = 70


class TesseractEngine:
    engine = ocr_pb2.ENGINE_TESSERACT
    name = "tesseract"

    def __init__(self, tessdata_path: str, pool_size: int) -> None:
        self._tessdata_path = tessdata_path
        self._pool_size = pool_size
        _, models = tesserocr.get_languages(tessdata_path)
        self.languages = sorted(set(models) - NON_LANGUAGE_MODELS)
        if not self.languages:
            raise RuntimeError(f"no Tesseract language models (*.traineddata) in {tessdata_path}")
        self._pools: dict[str, _ApiPool] = {}
        self._pools_lock = threading.Lock()

    def recognize(self, image: Image.Image, languages: list[str]) -> ocr_pb2.Page:
        dpi = image.info.get("dpi")
        # Tesseract thresholds colour images channel by channel; handing it grey pixels
        # reads the same text about a fifth faster (measured in bench/ocr.py).
        grey = image if image.mode == "L" else image.convert("L")
        with self._pool("+".join(languages)).api() as api:
            api.SetImage(grey)
            if dpi and round(dpi[0]) >= MIN_SOURCE_DPI:
                api.SetSourceResolution(round(dpi[0]))
            api.Recognize()
            blocks = _read_layout(api.GetIterator())
        page = build_page(blocks, image.width, image.height)
        page.engine = self.engine
        page.source = ocr_pb2.TEXT_SOURCE_OCR
        return page

    def close(self) -> None:
        with self._pools_lock:
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()

    def _pool(self, language: str) -> "_ApiPool":
        with self._pools_lock:
            if language not in self._pools:
                self._pools[language] = _ApiPool(self._tessdata_path, language, self._pool_size)
            return self._pools[language]


class _ApiPool:
    """Tesseract APIs for one language combination, created on demand up to `size`.

    A PyTessBaseAPI is not thread-safe and loading one costs ~0.1-0.5 s, so each is reused,
    one thread at a time.
    """

    def __init__(self, tessdata_path: str, language: str, size: int) -> None:
        self._tessdata_path = tessdata_path
        self._language = language
        self._size = size
        self._idle: queue.SimpleQueue[PyTessBaseAPI] = queue.SimpleQueue()
        self._created = 0
        self._lock = threading.Lock()

    @contextmanager
    def api(self) -> Iterator[PyTessBaseAPI]:
        api = self._take()
        try:
            yield api
        finally:
            api.Clear()
            self._idle.put(api)

    def _take(self) -> PyTessBaseAPI:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            may_create = self._created < self._size
            if may_create:
                self._created += 1
        if not may_create:
            return self._idle.get()
        try:
            return PyTessBaseAPI(path=self._tessdata_path, lang=self._language)
        except RuntimeError:
            with self._lock:
                self._created -= 1
            raise

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().End()
            except queue.Empty:
                return


def _read_layout(iterator: tesserocr.PyResultIterator | None) -> list[list[RecognizedLine]]:
    """Walk the result word by word, opening blocks and lines where Tesseract starts them."""
    blocks: list[list[RecognizedLine]] = []
    if iterator is None:
        return blocks
    while True:
        if not iterator.Empty(RIL.WORD):
            if not blocks or iterator.IsAtBeginningOf(RIL.BLOCK):
                blocks.append([])
            if not blocks[-1] or iterator.IsAtBeginningOf(RIL.TEXTLINE):
                line_box = _box(iterator, RIL.TEXTLINE)
                blocks[-1].append(RecognizedLine("", line_box, _confidence(iterator, RIL.TEXTLINE)))
            word = RecognizedWord(
                iterator.GetUTF8Text(RIL.WORD).strip(),
                _box(iterator, RIL.WORD),
                _confidence(iterator, RIL.WORD),
            )
            line = blocks[-1][-1]
            line.words.append(word)
            line.text = f"{line.text} {word.text}" if line.text else word.text
        if not iterator.Next(RIL.WORD):
            return blocks


def _box(iterator: tesserocr.PyResultIterator, level: int) -> Box:
    return Box(*iterator.BoundingBox(level))


def _confidence(iterator: tesserocr.PyResultIterator, level: int) -> float:
    # Tesseract reports 0-100.
    return min(max(iterator.Confidence(level) / 100, 0.0), 1.0)
