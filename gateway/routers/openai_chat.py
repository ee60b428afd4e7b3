"""OpenAI-compatible chat: POST /v1/chat/completions (and the same handler under our prefix,
/api/v1/chat/completions) -> paneas.llm.v1.LlmService/Chat or StreamChat; GET /v1/models and
/v1/models/{id} -> ListModels.

Works with the official `openai` client; every error has OpenAI's body (`gateway/errors.py`
and `gateway/openai/chat/errors.py`).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from paneas.gateway.auth import require_token
from paneas.gateway.openai.chat import serving
from paneas.gateway.openai.chat.protocol import (
    ChatCompletion,
    ChatCompletionRequest,
    Model,
    ModelList,
)
from paneas.gateway.openai.protocol import ErrorBody

router = APIRouter(tags=["openai"], dependencies=[Depends(require_token)])

_ERRORS: dict = {
    status: {"model": ErrorBody, "description": "OpenAI error body"}
    for status in (400, 401, 404, 429, 503, 504)
}
_CHAT_RESPONSES: dict = {
    200: {
        "description": "A chat.completion; with stream=true, server-sent chat.completion.chunk "
        "events ending with `data: [DONE]`. The header x-paneas-model names the model that "
        "served, x-paneas-route why.",
        "model": ChatCompletion,
        "content": {
            # One chat.completion.chunk (gateway.openai.chat.protocol) per `data:` line.
            "text/event-stream": {"schema": {"type": "string"}},
        },
    },
    **_ERRORS,
}


@router.post(
    "/v1/chat/completions",
    summary="Create a chat completion (OpenAI-compatible)",
    response_model=None,
    responses=_CHAT_RESPONSES,
)
@router.post(
    "/api/v1/chat/completions",
    summary="Create a chat completion (OpenAI semantics, under the stack's prefix)",
    response_model=None,
    responses=_CHAT_RESPONSES,
)
async def chat_completions(request: Request, body: ChatCompletionRequest) -> Response:
    return await serving.complete(request, body)


@router.get(
    "/v1/models",
    summary="List the served models (OpenAI-compatible)",
    response_model=ModelList,
    responses=_ERRORS,
)
async def list_models(request: Request) -> dict:
    return {"object": "list", "data": await serving.models(request)}


@router.get(
    "/v1/models/{model_id:path}",
    summary="Describe one served model (OpenAI-compatible)",
    response_model=Model,
    responses=_ERRORS,
)
async def retrieve_model(
    request: Request, model_id: Annotated[str, Path(description="A name from GET /v1/models")]
) -> dict:
    return await serving.model(request, model_id)
