"""The calls behind the chat routes: Chat for a completion, StreamChat for server-sent
chunks, ListModels for the model list. Every gRPC error leaves as OpenAI's error body."""

import json
from collections.abc import AsyncIterator

import grpc
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse

from paneas.gateway.disconnect import unless_disconnected
from paneas.gateway.metadata import deadline_seconds, grpc_metadata
from paneas.gateway.openai.chat import convert, render
from paneas.gateway.openai.chat.errors import llm_error, llm_error_body, served_headers
from paneas.gateway.openai.chat.protocol import ChatCompletionRequest
from paneas.gateway.openai.errors import OpenAIError
from paneas.gateway.usage import record_response_usage
from paneas.llm.v1 import llm_pb2

CHAT = "/paneas.llm.v1.LlmService/Chat"
STREAM_CHAT = "/paneas.llm.v1.LlmService/StreamChat"
LIST_MODELS = "/paneas.llm.v1.LlmService/ListModels"


def _deadline(request: Request, default: float) -> float:
    try:
        return deadline_seconds(request, default)
    except ValueError as error:
        raise OpenAIError(400, str(error)) from None


async def complete(request: Request, body: ChatCompletionRequest) -> Response:
    convert.check_supported(body)
    if body.stream:
        return await _stream(request, body)
    state = request.app.state
    call = state.backends.llm.Chat(
        convert.chat_request(body),
        metadata=grpc_metadata(request),
        timeout=_deadline(request, state.settings.llm_timeout_seconds),
    )
    try:
        response = await unless_disconnected(request, call, call)
    except grpc.aio.AioRpcError as error:
        raise llm_error(error) from None
    record_response_usage(request, CHAT, response)
    headers = served_headers(await call.initial_metadata())
    return JSONResponse(render.completion(response), headers=headers)


async def _stream(request: Request, body: ChatCompletionRequest) -> Response:
    state = request.app.state
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    call = state.backends.llm.StreamChat(
        convert.stream_chat_request(body),
        metadata=grpc_metadata(request),
        timeout=_deadline(request, state.settings.llm_timeout_seconds),
    )
    # The first chunk before answering: a request the service refuses (unknown model, prompt
    # over the context window, overload) gets its HTTP status, not a 200 with an error event.
    try:
        first = await unless_disconnected(request, call, call.read())
    except grpc.aio.AioRpcError as error:
        raise llm_error(error) from None
    except BaseException:
        call.cancel()
        raise
    headers = served_headers(await call.initial_metadata())

    async def events() -> AsyncIterator[dict]:
        message = first
        try:
            while message is not grpc.aio.EOF:
                record_response_usage(request, STREAM_CHAT, message)
                # The usage chunk (no choices) only for clients that asked for it.
                if message.choices or (include_usage and message.HasField("usage")):
                    yield _event(render.chunk(message, include_usage))
                message = await call.read()
            yield {"data": "[DONE]"}
        except grpc.aio.AioRpcError as error:
            # Mid-stream: the status line is gone, so OpenAI's error event ends the stream.
            yield _event(llm_error_body(error))
        finally:
            # Client gone (sse-starlette cancels this generator) or stream over: cancelling
            # the call stops generation in the engine at once.
            call.cancel()

    return EventSourceResponse(events(), headers=headers)


def _event(payload: dict) -> dict:
    return {"data": json.dumps(payload, ensure_ascii=False, separators=(",", ":"))}


async def models(request: Request) -> list[dict]:
    state = request.app.state
    call = state.backends.llm.ListModels(
        llm_pb2.ListModelsRequest(),
        metadata=grpc_metadata(request),
        timeout=_deadline(request, state.settings.default_timeout_seconds),
    )
    try:
        response = await unless_disconnected(request, call, call)
    except grpc.aio.AioRpcError as error:
        raise llm_error(error) from None
    record_response_usage(request, LIST_MODELS, response)
    return [render.model(entry) for entry in response.models]


async def model(request: Request, model_id: str) -> dict:
    for entry in await models(request):
        if entry["id"] == model_id:
            return entry
    raise OpenAIError(
        404,
        f"The model '{model_id}' does not exist; GET /v1/models lists the served ones",
        param="model",
        code="model_not_found",
    )
