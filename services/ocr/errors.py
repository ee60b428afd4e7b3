"""Errors a caller can fix by changing the request; the servicer maps them to gRPC codes."""


class OcrError(Exception):
    """Base of every request-level OCR error; the message says what is wrong and what to do."""


class InvalidDocument(OcrError):
    """The request cannot be processed as given (maps to INVALID_ARGUMENT)."""


class DocumentTooLarge(OcrError):
    """The document exceeds a configured size limit (maps to RESOURCE_EXHAUSTED)."""


class OcrBusy(OcrError):
    """The page queue is full (maps to RESOURCE_EXHAUSTED with a retry hint)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RecognitionCancelled(OcrError):
    """The caller went away; the remaining pages were skipped."""
