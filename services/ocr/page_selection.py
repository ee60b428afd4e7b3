"""The `pages` request field: "1-3,7" -> [1, 2, 3, 7]."""

import re

from paneas.services.ocr.errors import InvalidDocument

_ITEM = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def page_ranges(selection: str) -> list[tuple[int, int]]:
    """The (first, last) 1-based ranges of a selection, checked as far as they can be without
    the document (OCR jobs check them at submission); none when the selection is blank."""
    if not selection.strip():
        return []
    ranges = []
    for item in selection.split(","):
        match = _ITEM.match(item)
        if match is None:
            raise InvalidDocument(
                f"`pages` item {item.strip()!r} is not a page or range; "
                'use 1-based numbers and ranges such as "1-3,7"'
            )
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if first < 1 or first > last:
            raise InvalidDocument(
                f"`pages` range {item.strip()!r} is empty or starts below 1; "
                'pages are 1-based and ranges ascend, e.g. "2-5"'
            )
        ranges.append((first, last))
    return ranges


def select_pages(selection: str, page_count: int) -> list[int]:
    """1-based page numbers, ascending and unique; every page when the selection is blank."""
    ranges = page_ranges(selection)
    if not ranges:
        return list(range(1, page_count + 1))
    pages: set[int] = set()
    for first, last in ranges:
        if last > page_count:
            raise InvalidDocument(
                f"`pages` asks for page {last} but the document has {page_count} page(s)"
            )
        pages.update(range(first, last + 1))
    return sorted(pages)
