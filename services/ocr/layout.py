"""Engine-neutral layout: recognised lines grouped into blocks and turned into `ocr_pb2.Page`."""

import re
from dataclasses import dataclass, field
from statistics import fmean

from paneas.ocr.v1 import ocr_pb2

# A new block starts where the gap above a line exceeds both this fraction of the line height
# (lines of one paragraph set solid sit ~0.2 heights apart) and this multiple of the page's
# usual line gap (documents set with loose leading have wide gaps inside paragraphs too).
PARAGRAPH_GAP_RATIO = 0.6
PARAGRAPH_GAP_FACTOR = 1.5


@dataclass(frozen=True)
class Box:
    """Axis-aligned rectangle in page pixels, origin top-left; right/bottom exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @classmethod
    def around(cls, points: list[tuple[float, float]]) -> "Box":
        xs = [x for x, _ in points]
        ys = [y for _, y in points]
        return cls(round(min(xs)), round(min(ys)), round(max(xs)), round(max(ys)))

    def union(self, other: "Box") -> "Box":
        return Box(
            min(self.left, other.left),
            min(self.top, other.top),
            max(self.right, other.right),
            max(self.bottom, other.bottom),
        )

    def clipped(self, width: int, height: int) -> "Box":
        left, top = max(0, min(self.left, width)), max(0, min(self.top, height))
        return Box(left, top, max(left, min(self.right, width)), max(top, min(self.bottom, height)))

    def to_proto(self) -> ocr_pb2.BoundingBox:
        return ocr_pb2.BoundingBox(
            left=self.left, top=self.top, width=self.right - self.left, height=self.height
        )


@dataclass(frozen=True)
class RecognizedWord:
    text: str
    box: Box
    confidence: float


@dataclass
class RecognizedLine:
    text: str
    box: Box
    confidence: float
    words: list[RecognizedWord] = field(default_factory=list)


def proportional_words(text: str, box: Box, confidence: float) -> list[RecognizedWord]:
    """Split a line into words, sharing the line's width out by character position."""
    if not text:
        return []
    scale = (box.right - box.left) / len(text)
    return [
        RecognizedWord(
            match.group(),
            Box(
                box.left + round(match.start() * scale),
                box.top,
                box.left + round(match.end() * scale),
                box.bottom,
            ),
            confidence,
        )
        for match in re.finditer(r"\S+", text)
    ]


def group_into_blocks(lines: list[RecognizedLine]) -> list[list[RecognizedLine]]:
    """Group lines (any order) into paragraph-like blocks by vertical gap and overlap."""
    ordered = sorted(lines, key=lambda line: (line.box.top, line.box.left))
    pairs = list(zip(ordered, ordered[1:], strict=False))
    gaps = sorted(
        current.box.top - previous.box.bottom
        for previous, current in pairs
        if _overlap_horizontally(previous.box, current.box)
    )
    # The lower quartile: the gap between lines of one paragraph even on pages where most
    # paragraphs are short.
    usual_gap = max(0, gaps[len(gaps) // 4]) if gaps else 0
    blocks: list[list[RecognizedLine]] = [ordered[:1]] if ordered else []
    for previous, current in pairs:
        gap = current.box.top - previous.box.bottom
        limit = max(
            PARAGRAPH_GAP_RATIO * max(previous.box.height, current.box.height),
            PARAGRAPH_GAP_FACTOR * usual_gap,
        )
        if _overlap_horizontally(previous.box, current.box) and gap <= limit:
            blocks[-1].append(current)
        else:
            blocks.append([current])
    return blocks


def _overlap_horizontally(first: Box, second: Box) -> bool:
    return first.left < second.right and second.left < first.right


def build_page(blocks: list[list[RecognizedLine]], width: int, height: int) -> ocr_pb2.Page:
    """A page with text, confidences (means of word confidences) and clipped boxes."""
    page = ocr_pb2.Page(width=width, height=height)
    page_confidences: list[float] = []
    block_texts: list[str] = []
    for lines in blocks:
        lines = [line for line in lines if line.text.strip()]
        if not lines:
            continue
        block = page.blocks.add()
        block_confidences: list[float] = []
        block_box = lines[0].box
        for recognized in lines:
            line = block.lines.add(text=recognized.text)
            line.bounding_box.CopyFrom(recognized.box.clipped(width, height).to_proto())
            word_confidences = [word.confidence for word in recognized.words]
            line.confidence = fmean(word_confidences) if word_confidences else recognized.confidence
            for recognized_word in recognized.words:
                word = line.words.add(text=recognized_word.text)
                word.confidence = recognized_word.confidence
                word.bounding_box.CopyFrom(recognized_word.box.clipped(width, height).to_proto())
            block_confidences.extend(word_confidences or [recognized.confidence])
            block_box = block_box.union(recognized.box)
        block.text = "\n".join(line.text for line in lines)
        block.confidence = fmean(block_confidences)
        block.bounding_box.CopyFrom(block_box.clipped(width, height).to_proto())
        block_texts.append(block.text)
        page_confidences.extend(block_confidences)
    page.text = "\n\n".join(block_texts)
    page.confidence = fmean(page_confidences) if page_confidences else 0.0
    return page
