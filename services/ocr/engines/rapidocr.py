"""PP-OCRv6 (ONNX) through RapidOCR, with the models shipped inside the rapidocr wheel."""

import os
from pathlib import Path

import rapidocr
from PIL import Image
from rapidocr import RapidOCR

from paneas.ocr.v1 import ocr_pb2
from paneas.services.ocr.layout import (
    Box,
    RecognizedLine,
    RecognizedWord,
    build_page,
    group_into_blocks,
    proportional_words,
)

MODELS_DIR = Path(rapidocr.__file__).parent / "models"
# Explicit paths: with a model_path set RapidOCR never looks for (or downloads) a model.
DETECTION_MODEL = MODELS_DIR / "PP-OCRv6_det_small.onnx"
RECOGNITION_MODEL = MODELS_DIR / "PP-OCRv6_rec_small.onnx"
ORIENTATION_MODEL = MODELS_DIR / "ch_ppocr_mobile_v2.0_cls_mobile.onnx"

# The Latin-script and CJK languages of the multilingual PP-OCRv6 model, as ISO 639-2.
LANGUAGES = [
    "afr", "aze", "bos", "cat", "ces", "chi_sim", "chi_tra", "cym", "dan", "deu", "eng",
    "est", "eus", "fin", "fra", "gle", "glg", "hrv", "hun", "ind", "isl", "ita", "jpn",
    "kmr", "lat", "lav", "lit", "ltz", "mlt", "mri", "msa", "nld", "nor", "oci", "pol",
    "por", "que", "roh", "ron", "slk", "slv", "spa", "sqi", "srp_latn", "swa", "swe",
    "tgl", "tur", "uzb", "vie",
]  # fmt: skip


class RapidOcrEngine:
    """One multilingual model; language hints only need to be among the model's languages.

    Safe to call from several threads: RapidOCR keeps no per-call state on the instance when
    no per-call overrides are passed, and onnxruntime sessions allow concurrent run().
    """

    engine = ocr_pb2.ENGINE_RAPIDOCR
    name = "rapidocr"
    languages = LANGUAGES

    def __init__(self, workers: int) -> None:
        # Pages run in parallel, each inference using its share of the cores; letting every
        # session take all cores would oversubscribe them.
        threads = max(1, (os.cpu_count() or 1) // max(1, workers))
        self._ocr = RapidOCR(
            params={
                "Global.log_level": "warning",
                "Global.return_word_box": True,
                "Det.model_path": str(DETECTION_MODEL),
                "Rec.model_path": str(RECOGNITION_MODEL),
                "Cls.model_path": str(ORIENTATION_MODEL),
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )

    def recognize(self, image: Image.Image, languages: list[str]) -> ocr_pb2.Page:
        result = self._ocr(image)
        lines = _lines(result.boxes, result.txts, result.scores, result.word_results)
        page = build_page(group_into_blocks(lines), image.width, image.height)
        page.engine = self.engine
        page.source = ocr_pb2.TEXT_SOURCE_OCR
        return page

    def close(self) -> None:
        del self._ocr


def _lines(boxes, texts, scores, word_results) -> list[RecognizedLine]:
    if boxes is None or texts is None:
        return []
    words_per_line = word_results if word_results and len(word_results) == len(texts) else None
    lines = []
    for index, (quad, text, score) in enumerate(zip(boxes, texts, scores, strict=True)):
        text = " ".join(text.split())
        if not text:
            continue
        box = _box(quad)
        words = _words(words_per_line[index]) if words_per_line else []
        if not words:
            words = proportional_words(text, box, float(score))
        lines.append(RecognizedLine(text, box, float(score), words))
    return lines


def _words(line_words) -> list[RecognizedWord]:
    return [
        RecognizedWord(text.strip(), _box(quad), float(score))
        for text, score, quad in line_words
        if text.strip()
    ]


def _box(quadrilateral) -> Box:
    """The axis-aligned box around a detected (possibly slanted) quadrilateral."""
    return Box.around([(float(x), float(y)) for x, y in quadrilateral])
