"""The calls behind the chat routes: Chat for a completion, StreamChat for server-sent
chunks, ListModels for the model list. Every gRPC error leaves as OpenAI's error body."""

from collections.abc import AsyncIterator

import grpc
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sse_starlette import ServerSentEvent

from paneas.gateway import calls
from paneas.gateway.metadata import grpc_metadata
from paneas.gateway.openai.chat import convert, render
from paneas.gateway.openai.chat.errors import llm_error, llm_error_body, served_headers
from paneas.gateway.openai.chat.protocol import ChatCompletionRequest
from paneas.gateway.openai.errors import OpenAIError
from paneas.llm.v1 import llm_pb2

CHAT = "/paneas.llm.v1.LlmService/Chat"
STREAM_CHAT = "/paneas.llm.v1.LlmService/StreamChat"
LIST_MODELS = "/paneas.llm.v1.LlmService/ListModels"
# OpenAI's last event of a stream that succeeded.
_DONE = ServerSentEvent("[DONE]")


async def complete(request: Request, body: ChatCompletionRequest) -> Response:
    convert.check_supported(body)
    if body.stream:
        return await _stream(request, body)
    state = request.app.state
    call = state.backends.llm.Chat(
        convert.chat_request(body),
        metadata=grpc_metadata(request),
        timeout=calls.deadline(request, state.settings.llm_timeout_seconds),
    )
    try:
        response = await calls.unary(request, call, CHAT)
    except grpc.aio.AioRpcError as error:
        raise llm_error(error) from None
    headers = served_headers(await call.initial_metadata())
    return JSONResponse(render.completion(response), headers=headers)


async def _stream(request: Request, body: ChatCompletionRequest) -> Response:
    state = request.app.state
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    call = state.backends.llm.StreamChat(
        convert.stream_chat_request(body),
        metadata=grpc_metadata(request),
        timeout=calls.deadline(request, state.settings.llm_timeout_seconds),
    )
    # A request the service refuses (unknown model, prompt over the context window,
    # overload) gets its HTTP status, not a 200 with an error event.
    try:
        messages = await calls.server_stream(request, call, STREAM_CHAT)
    except grpc.aio.AioRpcError as error:
        raise llm_error(error) from None
    headers = served_headers(await call.initial_metadata())

    async def events() -> AsyncIterator[dict | ServerSentEvent]:
        async for message in messages:
            # The usage chunk (no choices) only for clients that asked for it.
            if message.choices or (include_usage and message.HasField("usage")):
                yield render.chunk(message, include_usage)
        yield _DONE

    # Cancelling the call when the stream ends or the client leaves stops generation in the
    # engine at once.
    return calls.sse_response(events(), call, llm_error_body, headers=headers)


async def models(request: Request) -> list[dict]:
    state = request.app.state
    call = state.backends.llm.ListModels(
        llm_pb2.ListModelsRequest(),
        metadata=grpc_metadata(request),
        timeout=calls.deadline(request, state.settings.default_timeout_seconds),
    )
    try:
        response = await calls.unary(request, call, LIST_MODELS)
    except grpc.aio.AioRpcError as error:
        raise llm_error(error) from None
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
