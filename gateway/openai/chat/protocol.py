"""Wire models of OpenAI's chat completions and models API as the gateway serves them.

Requests accept what OpenAI's API accepts, ignoring fields the stack has no use for
(`logprobs`, `parallel_tool_calls`, `store`, `metadata` ...), so existing clients work
unchanged. The response models document the routes; the answers themselves are built in
`render`, whose dicts (chunks too) keep OpenAI's exact shape (nulls included).
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

# Protobuf's integer ranges: a larger number must be a 400, not a failed conversion.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


# A string, or an array of text parts (joined with newlines, as vLLM does).
Content = str | list[TextPart]


class FunctionCall(BaseModel):
    name: str
    arguments: str = Field(description="JSON-encoded arguments")


class ToolCall(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class SystemMessage(BaseModel):
    role: Literal["system"]
    content: Content
    name: str | None = None


class DeveloperMessage(BaseModel):
    role: Literal["developer"]
    content: Content
    name: str | None = None


class UserMessage(BaseModel):
    role: Literal["user"]
    content: Content
    name: str | None = None


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    # Null when the assistant only called tools.
    content: Content | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None


class ToolMessage(BaseModel):
    role: Literal["tool"]
    content: Content
    tool_call_id: str


Message = Annotated[
    SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage,
    Field(discriminator="role"),
]


class FunctionDefinition(BaseModel):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = Field(None, description="JSON Schema of the arguments")
    strict: bool | None = None


class Tool(BaseModel):
    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(BaseModel):
    name: str


class NamedToolChoice(BaseModel):
    type: Literal["function"]
    function: NamedFunction


class TextFormat(BaseModel):
    type: Literal["text"]


class JsonObjectFormat(BaseModel):
    type: Literal["json_object"]


class JsonSchema(BaseModel):
    name: str
    description: str | None = None
    # `schema` would shadow a BaseModel attribute; the wire name stays OpenAI's.
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class JsonSchemaFormat(BaseModel):
    type: Literal["json_schema"]
    json_schema: JsonSchema


ResponseFormat = Annotated[
    TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")
]


class StreamOptions(BaseModel):
    include_usage: bool | None = None


Penalty = Annotated[float | None, Field(ge=-2, le=2)]


class ChatCompletionRequest(BaseModel):
    """`POST /v1/chat/completions`, as OpenAI's API reference defines it."""

    model: str = Field(
        min_length=1, description='A served model name (GET /v1/models), a tier, or "auto"'
    )
    messages: list[Message] = Field(min_length=1)
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    response_format: ResponseFormat | None = None
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    max_tokens: int | None = Field(
        None, ge=1, le=INT32_MAX, description="Deprecated by OpenAI for max_completion_tokens"
    )
    max_completion_tokens: int | None = Field(
        None, ge=1, le=INT32_MAX, description="Wins over max_tokens when both are given"
    )
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    seed: int | None = Field(None, ge=-INT64_MAX - 1, le=INT64_MAX)
    presence_penalty: Penalty = None
    frequency_penalty: Penalty = None
    n: int | None = Field(None, ge=1, le=INT32_MAX, description="Only 1 is supported")
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    user: str | None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ResponseMessage(BaseModel):
    role: Literal["assistant"]
    content: str | None
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None


class Choice(BaseModel):
    index: int
    message: ResponseMessage
    logprobs: None = None
    finish_reason: Literal["stop", "length", "tool_calls", "content_filter"]


class ChatCompletion(BaseModel):
    """The answer without `stream`; the header `x-paneas-model` names the served model."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str = Field(description="The model that served the request, after routing")
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None


class Model(BaseModel):
    """OpenAI's model object plus what the stack's router knows about it."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    resolves_to: str = Field(description="The concrete model the name serves")
    engine: str = Field(description="vllm, llama_cpp or openai")
    context_window: int
    tier: str = Field(description="The router's tier: fast, balanced, external, or empty")


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[Model]
