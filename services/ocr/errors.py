"""Errors a caller can act on; each carries its gRPC code (services/runtime/errors.py)."""

from paneas.services.runtime import errors


class OcrError(errors.ServiceError):
    """Base of every request-level OCR error; the message says what is wrong and what to do."""


class InvalidDocument(OcrError):
    """The request cannot be processed as given."""


class DocumentTooLarge(errors.OutOfRange, OcrError):
    """The document exceeds a configured size limit (pages, pixels): it will never be served
    as it is, so OUT_OF_RANGE (HTTP 400), not a retryable RESOURCE_EXHAUSTED."""


class OcrBusy(errors.Overloaded, OcrError):
    """The page queue is full; retry after `retry_after` seconds."""


class NotReady(errors.NotReady, OcrError):
    """The engines are still loading."""
