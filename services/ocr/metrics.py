"""OCR-specific Prometheus metrics (the runtime counts the RPCs themselves)."""

from prometheus_client import Counter, Histogram

PAGES = Counter(
    "paneas_ocr_pages_total",
    "Pages whose text was produced, by engine and source (ocr or pdf_text_layer).",
    ["engine", "source"],
)
PAGE_SECONDS = Histogram(
    "paneas_ocr_page_seconds",
    "Time to produce one page's text, rasterising included.",
    ["engine", "source"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
)
SKIPPED_PAGES = Counter(
    "paneas_ocr_skipped_pages_total",
    "Pages not processed because the caller cancelled or another page failed.",
)
