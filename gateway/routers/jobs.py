"""Durable jobs for long recordings (`gateway/jobs/`):

- POST /api/v1/jobs: multipart `file`, `type`, `config` (JSON), `webhook_url` -> 202, the job
- GET /api/v1/jobs/{id}: the job, with its result once it has succeeded
- GET /api/v1/jobs/{id}/result?format=json|verbose_json|text|srt|vtt (OCR: json|text; 410 once
  expired)
- GET /api/v1/jobs?status=&limit=&after=: the caller's jobs, newest first
- DELETE /api/v1/jobs/{id}: cancel a queued or running job, remove a finished one
"""

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import Response

from paneas.gateway.auth import require_token
from paneas.gateway.jobs import serving
from paneas.gateway.jobs.protocol import Job, JobList, JobStatus, ResultFormat

router = APIRouter(tags=["jobs"], dependencies=[Depends(require_token)])

Token = Annotated[str, Depends(require_token)]


@router.post(
    "/api/v1/jobs",
    status_code=202,
    response_model=Job,
    summary="Queue the transcription of a (long) recording, or the OCR of a document",
)
async def create_job(
    request: Request,
    token: Token,
    file: Annotated[
        UploadFile, File(description="Audio in any common container; for ocr, an image or PDF")
    ],
    job_type: Annotated[
        str, Form(alias="type", description="transcription or ocr")
    ] = "transcription",
    config: Annotated[
        str, Form(description='JSON object, e.g. {"language": "en", "word_timestamps": true}')
    ] = "{}",
    webhook_url: Annotated[
        str,
        Form(description="POSTed a signed JSON notice when the job ends (public http(s) URL)"),
    ] = "",
    idempotency_key: Annotated[
        str | None,
        Header(description="The same key from the same token within 24 h: the same job"),
    ] = None,
) -> Job:
    return await serving.create(
        request, token, file, job_type, config, webhook_url, idempotency_key
    )


@router.get("/api/v1/jobs", response_model=JobList, summary="The caller's jobs, newest first")
async def list_jobs(
    request: Request,
    token: Token,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(description="The last id of the previous page")] = None,
) -> JobList:
    return await serving.listing(request, token, status, limit, after)


@router.get("/api/v1/jobs/{job_id}", response_model=Job, summary="A job and its result")
async def get_job(request: Request, token: Token, job_id: str) -> Job:
    return await serving.get(request, token, job_id)


@router.get("/api/v1/jobs/{job_id}/result", summary="A job's result in a response format")
async def get_result(
    request: Request,
    token: Token,
    job_id: str,
    format: Annotated[
        ResultFormat | None,
        Query(
            description="transcription: verbose_json (default), json, text, srt, vtt; ocr: "
            "json (default), text"
        ),
    ] = None,
) -> Response:
    return await serving.result(request, token, job_id, format)


@router.delete(
    "/api/v1/jobs/{job_id}",
    summary="Cancel a queued or running job (200), or remove a finished one (204)",
    responses={204: {"description": "removed"}},
)
async def delete_job(request: Request, token: Token, job_id: str) -> Response:
    return await serving.cancel(request, token, job_id)
