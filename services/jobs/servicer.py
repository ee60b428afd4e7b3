"""gRPC face of the jobs API: paneas.jobs.v1.JobService, over the same implementation as the
REST routes (`paneas.gateway.jobs.serving`). The runtime's interceptor has checked the bearer
token before a method runs (an unauthenticated call is refused before any message is read);
the caller is that token's digest, as on the REST routes."""

from collections.abc import AsyncIterator

import grpc

from paneas.gateway.auth import token_digest
from paneas.gateway.jobs import serving
from paneas.gateway.jobs.serving import Jobs, JobsError, invalid
from paneas.jobs.v1 import jobs_pb2, jobs_pb2_grpc
from paneas.services.jobs.convert import config_values, job_message, spec_type
from paneas.services.runtime import wire
from paneas.services.runtime.auth import bearer_token


async def _abort(context: grpc.aio.ServicerContext, error: JobsError):
    metadata = ()
    if error.retry_after is not None:
        metadata = ((wire.RETRY_AFTER_MS, str(int(error.retry_after * 1000))),)
    await context.abort(error.code, str(error), trailing_metadata=metadata)


def _owner(context: grpc.aio.ServicerContext) -> str:
    token = bearer_token(context.invocation_metadata())
    # The auth interceptor lets no call without a valid token reach a method.
    assert token is not None
    return token_digest(token)


async def _chunks(messages: AsyncIterator[jobs_pb2.CreateJobRequest]) -> AsyncIterator[bytes]:
    async for message in messages:
        if message.WhichOneof("request") != "chunk":
            raise invalid("only the first message may carry `spec`; the others carry `chunk`")
        yield message.chunk


class JobServicer(jobs_pb2_grpc.JobServiceServicer):
    def __init__(self, jobs: Jobs) -> None:
        self._jobs = jobs

    async def CreateJob(
        self,
        request_iterator: AsyncIterator[jobs_pb2.CreateJobRequest],
        context: grpc.aio.ServicerContext,
    ) -> jobs_pb2.CreateJobResponse:
        try:
            owner = _owner(context)
            messages = aiter(request_iterator)
            first = await anext(messages, None)
            if first is None or first.WhichOneof("request") != "spec":
                raise invalid(
                    "the first message must carry `spec` (the job's type and config), the "
                    "next ones `chunk`s of the file"
                )
            spec = first.spec
            job_type = spec_type(spec)
            config = serving.parse_config(self._jobs, job_type, config_values(spec, job_type))
            row = await serving.create_job(
                self._jobs,
                owner,
                _chunks(messages),
                spec.filename,
                job_type,
                config,
                spec.webhook_url,
                spec.idempotency_key or None,
            )
        except JobsError as error:
            await _abort(context, error)
        return jobs_pb2.CreateJobResponse(job=job_message(row))

    async def GetJob(
        self, request: jobs_pb2.GetJobRequest, context: grpc.aio.ServicerContext
    ) -> jobs_pb2.GetJobResponse:
        try:
            row, result = await serving.get_job(self._jobs, _owner(context), request.id)
        except JobsError as error:
            await _abort(context, error)
        return jobs_pb2.GetJobResponse(job=job_message(row, result))

    async def ListJobs(
        self, request: jobs_pb2.ListJobsRequest, context: grpc.aio.ServicerContext
    ) -> jobs_pb2.ListJobsResponse:
        try:
            rows, has_more = await serving.list_jobs(
                self._jobs, _owner(context), request.status, request.limit, request.after
            )
        except JobsError as error:
            await _abort(context, error)
        return jobs_pb2.ListJobsResponse(
            data=[job_message(row) for row in rows],
            has_more=has_more,
            last_id=rows[-1].id if rows else "",
        )

    async def CancelJob(
        self, request: jobs_pb2.CancelJobRequest, context: grpc.aio.ServicerContext
    ) -> jobs_pb2.CancelJobResponse:
        try:
            row = await serving.cancel_job(self._jobs, _owner(context), request.id)
        except JobsError as error:
            await _abort(context, error)
        if row is None:
            return jobs_pb2.CancelJobResponse(removed=True)
        return jobs_pb2.CancelJobResponse(job=job_message(row))

    async def GetJobResult(
        self, request: jobs_pb2.GetJobResultRequest, context: grpc.aio.ServicerContext
    ) -> jobs_pb2.GetJobResultResponse:
        try:
            rendering = await serving.job_result(
                self._jobs, _owner(context), request.id, request.format
            )
        except JobsError as error:
            await _abort(context, error)
        return jobs_pb2.GetJobResultResponse(
            content_type=rendering.media_type, content=rendering.body.decode()
        )
