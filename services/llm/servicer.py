"""gRPC face of the router: paneas.llm.v1.LlmService."""

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing

import grpc

from paneas.llm.v1 import llm_pb2, llm_pb2_grpc
from paneas.services.llm import convert
from paneas.services.llm.engines.base import ChatParams
from paneas.services.llm.errors import LlmError
from paneas.services.llm.router import AUTO
from paneas.services.llm.serving import ChatServing, Generation
from paneas.services.runtime import wire
from paneas.services.runtime.errors import abort


class LlmServicer(llm_pb2_grpc.LlmServiceServicer):
    def __init__(self, serving: ChatServing) -> None:
        self._serving = serving

    async def Chat(
        self, request: llm_pb2.ChatRequest, context: grpc.aio.ServicerContext
    ) -> llm_pb2.ChatResponse:
        try:
            generation = await self._start(request, context)
            message = llm_pb2.Message(role=llm_pb2.ROLE_ASSISTANT)
            calls: dict[int, llm_pb2.ToolCall] = {}
            choice = llm_pb2.Choice(index=0)
            response = _header(llm_pb2.ChatResponse(), generation)
            # Closed here, in the call's own task, even when the client cancels: that is
            # what stops generation in the engine at once.
            async with aclosing(generation.deltas) as deltas:
                async for delta in deltas:
                    message.content += delta.content
                    for fragment in delta.tool_calls:
                        call = calls.setdefault(
                            fragment.index,
                            llm_pb2.ToolCall(index=fragment.index, type="function"),
                        )
                        call.id = call.id or fragment.id
                        call.function.name += fragment.name
                        call.function.arguments += fragment.arguments
                    if delta.finish_reason:
                        choice.finish_reason = convert.FINISH_REASONS[delta.finish_reason]
                        if delta.usage:
                            response.usage.CopyFrom(convert.usage_message(delta.usage))
            message.tool_calls.extend(calls[index] for index in sorted(calls))
            choice.message.CopyFrom(message)
            response.choices.append(choice)
            return response
        except LlmError as error:
            await abort(context, error)

    async def StreamChat(
        self, request: llm_pb2.StreamChatRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[llm_pb2.StreamChatResponse]:
        try:
            generation = await self._start(request, context)
            first = True
            async with aclosing(generation.deltas) as deltas:
                async for delta in deltas:
                    chunk = _header(llm_pb2.StreamChatResponse(), generation)
                    choice = chunk.choices.add(index=0, delta=convert.delta_message(delta))
                    if first:
                        choice.delta.role = llm_pb2.ROLE_ASSISTANT
                        first = False
                    if delta.finish_reason:
                        choice.finish_reason = convert.FINISH_REASONS[delta.finish_reason]
                    yield chunk
                    if delta.finish_reason and request.include_usage and delta.usage:
                        usage = _header(llm_pb2.StreamChatResponse(), generation)
                        usage.usage.CopyFrom(convert.usage_message(delta.usage))
                        yield usage
        except LlmError as error:
            await abort(context, error)

    async def _start(
        self,
        request: llm_pb2.ChatRequest | llm_pb2.StreamChatRequest,
        context: grpc.aio.ServicerContext,
    ) -> Generation:
        params = convert.params_of(request)
        generation = await self._serving.generate(request.model, params)
        generation.id = f"chatcmpl-{uuid.uuid4().hex}"
        generation.created = int(time.time())
        await context.send_initial_metadata(
            ((wire.SERVED_MODEL, generation.model.name), (wire.SERVED_ROUTE, generation.reason))
        )
        return generation

    async def ListModels(
        self, request: llm_pb2.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> llm_pb2.ListModelsResponse:
        router = self._serving.router
        response = llm_pb2.ListModelsResponse()
        tiers = []
        for tier in ("fast", "balanced", "external"):
            model = router.tier_model(tier)
            if model is not None:
                tiers.append(f"{tier}={model.name}")
        if tiers:
            response.models.add(
                id=AUTO,
                resolves_to="router by prompt size: " + ", ".join(tiers),
                engine="router",
                context_window=router.spec.max_context_tokens,
                owned_by="paneas",
            )
        for model in router.models.values():
            response.models.add(
                id=model.name,
                resolves_to=model.engine.model,
                engine=model.engine.kind,
                context_window=model.engine.context_window,
                tier=model.tier,
                owned_by=model.owned_by,
            )
        return response

    async def CountTokens(
        self, request: llm_pb2.CountTokensRequest, context: grpc.aio.ServicerContext
    ) -> llm_pb2.CountTokensResponse:
        try:
            params = ChatParams(messages=convert.messages_of(request.messages))
            model, count = await self._serving.router.count(request.model, params)
            return llm_pb2.CountTokensResponse(
                token_count=count, model=model.name, context_window=model.engine.context_window
            )
        except LlmError as error:
            await abort(context, error)


def _header(message, generation: Generation):
    message.id = generation.id
    message.model = generation.model.name
    message.created = generation.created
    return message
