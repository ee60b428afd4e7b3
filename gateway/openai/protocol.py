"""Wire models every OpenAI-compatible route shares: the error body.

Field names, types and presence follow OpenAI's API reference so that the official SDKs turn
it into their typed exceptions; the models also document the routes in `/openapi.json`. Each
API area's own models are in its package (`chat/`, `speech/`, `transcription/`).
"""

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    message: str
    type: str = Field(description="invalid_request_error, requests, server_error ...")
    param: str | None = Field(None, description="The request parameter at fault, if any")
    code: str | None = None


class ErrorBody(BaseModel):
    """Every error of a `/v1/` route."""

    error: ErrorDetail
