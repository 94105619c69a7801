"""Request bodies of both chat APIs, checked before anything reaches Ollama.

A bad request must come back as a 400 that names the field at fault (`messages[0].role`), in
the dialect of the API that was called, rather than as an opaque error from Ollama or a 500.
Unknown fields are allowed and ignored: newer clients send options this backend does not know.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ApiError
from .settings import Settings

M = TypeVar("M", bound=BaseModel)

# Options Ollama applies when it loads the model (the llama.cpp runner's parameters). A request
# that changes one makes Ollama reload the model, which stalls every other chat on the pod
# for seconds to minutes, so they are refused unless ALLOW_RUNNER_OPTIONS is on. num_ctx is one
# too, but choosing a context length is common: it is bounded by MAX_NUM_CTX instead.
RUNNER_OPTIONS = (
    "num_batch",
    "num_gpu",
    "main_gpu",
    "num_thread",
    "use_mmap",
    "use_mlock",
    "numa",
    "low_vram",
    "vocab_only",
    "f16_kv",
)

_GO_DURATION = re.compile(r"^-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^-?\d+(\.\d+)?$")


def _keep_alive(value: int | float | str | None) -> int | float | str | None:
    if isinstance(value, str) and not _GO_DURATION.match(value):
        raise ValueError("expected a duration like 5m, 1h or -1, or a number of seconds")
    return value


KeepAlive = Annotated[int | float | str | None, AfterValidator(_keep_alive)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)


# --- Ollama /api/chat -----------------------------------------------------------------------


class OllamaToolCallFunction(_Body):
    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class OllamaToolCall(_Body):
    function: OllamaToolCallFunction


class OllamaMessage(_Body):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    images: list[str] | None = None
    tool_calls: list[OllamaToolCall] | None = None
    thinking: str | None = None
    tool_name: str | None = None


class OllamaOptions(_Body):
    """The options people actually set; any other option is passed through unchecked."""

    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    min_p: float | None = Field(default=None, ge=0, le=1)
    num_predict: int | None = Field(default=None, ge=-2)
    num_ctx: int | None = Field(default=None, ge=1)
    seed: int | None = None
    stop: list[str] | None = None
    repeat_penalty: float | None = Field(default=None, ge=0)
    presence_penalty: float | None = None
    frequency_penalty: float | None = None


class OllamaChatRequest(_Body):
    model: str | None = Field(default=None, min_length=1)
    messages: list[OllamaMessage] = Field(default_factory=list)
    stream: bool = True
    format: Literal["json"] | dict[str, Any] | None = None
    options: OllamaOptions | None = None
    keep_alive: KeepAlive = None
    tools: list[dict[str, Any]] | None = None
    think: bool | Literal["low", "medium", "high"] | None = None


# --- OpenAI /v1/chat/completions ---------------------------------------------------------------


class TextPart(_Body):
    type: Literal["text"]
    text: str


class ImageUrl(_Body):
    url: str = Field(min_length=1)
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Body):
    type: Literal["image_url"]
    image_url: ImageUrl


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class FunctionCall(_Body):
    name: str = Field(min_length=1)
    arguments: str


class ToolCall(_Body):
    id: str = Field(min_length=1)
    type: Literal["function"] = "function"
    function: FunctionCall


class OpenAIMessage(_Body):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class StreamOptions(_Body):
    include_usage: bool = False


class JsonSchemaFormat(_Body):
    name: str = Field(min_length=1)
    description: str | None = None
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Body):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class FunctionSpec(_Body):
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolSpec(_Body):
    type: Literal["function"]
    function: FunctionSpec


class OpenAIChatRequest(_Body):
    model: str = Field(min_length=1)
    messages: list[OpenAIMessage]
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    seed: int | None = None
    response_format: ResponseFormat | None = None
    tools: list[ToolSpec] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    user: str | None = None
    logprobs: bool | None = None

    @field_validator("messages")
    @classmethod
    def _messages(cls, value: list[OpenAIMessage]) -> list[OpenAIMessage]:
        if not value:
            raise ValueError("at least one message is required")
        return value

    @field_validator("n")
    @classmethod
    def _n(cls, value: int | None) -> int | None:
        if value is not None and value != 1:
            raise ValueError("only n=1 is supported (one choice per request)")
        return value

    @field_validator("stop")
    @classmethod
    def _stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value


# --- Ollama /api/generate, /api/embed, /api/embeddings, /api/show -------------------------------


class OllamaGenerateRequest(_Body):
    model: str | None = Field(default=None, min_length=1)
    prompt: str | None = None
    suffix: str | None = None
    system: str | None = None
    template: str | None = None
    context: list[int] | None = None
    raw: bool | None = None
    images: list[str] | None = None
    stream: bool = True
    format: Literal["", "json"] | dict[str, Any] | None = None
    options: OllamaOptions | None = None
    keep_alive: KeepAlive = None
    think: bool | Literal["low", "medium", "high"] | None = None


class OllamaEmbedRequest(_Body):
    model: str | None = Field(default=None, min_length=1)
    input: str | list[str] = ""
    truncate: bool | None = None
    dimensions: int | None = Field(default=None, ge=1)
    options: OllamaOptions | None = None
    keep_alive: KeepAlive = None


class OllamaEmbeddingsRequest(_Body):
    model: str | None = Field(default=None, min_length=1)
    prompt: str = ""
    options: OllamaOptions | None = None
    keep_alive: KeepAlive = None


class OllamaShowRequest(_Body):
    model: str | None = Field(default=None, min_length=1)
    name: str | None = Field(default=None, min_length=1)  # the older spelling of model
    verbose: bool | None = None


# --- OpenAI /v1/completions and /v1/embeddings -----------------------------------------------


class OpenAICompletionRequest(_Body):
    model: str = Field(min_length=1)
    prompt: str | list[str]
    suffix: str | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = None
    best_of: int | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    seed: int | None = None
    echo: bool | None = None
    logprobs: int | None = None
    user: str | None = None

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError("exactly one prompt is supported (a string, or a list of one)")
        return value

    @field_validator("n", "best_of")
    @classmethod
    def _one(cls, value: int | None) -> int | None:
        if value is not None and value != 1:
            raise ValueError("only 1 is supported (one choice per request)")
        return value

    @field_validator("echo")
    @classmethod
    def _no_echo(cls, value: bool | None) -> bool | None:
        if value:
            raise ValueError("echo is not supported by this service")
        return value

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, value: int | None) -> int | None:
        if value is not None:
            raise ValueError("logprobs is not supported by this service")
        return value

    @field_validator("stop")
    @classmethod
    def _stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value


class OpenAIEmbeddingRequest(_Body):
    model: str = Field(min_length=1)
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None

    @field_validator("input")
    @classmethod
    def _texts(cls, value: str | list[str]) -> str | list[str]:
        if value == "" or value == []:
            raise ValueError("must not be empty")
        return value


# --- Parsing and error wording -----------------------------------------------------------------


def parse_json_object(body: bytes, max_depth: int) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says what is wrong with it.

    Objects and arrays may nest max_depth levels deep (the body itself is level 1). Python's
    parser recurses once per level and raises RecursionError near 1,000; anything deeper
    than the limit, whichever of the two notices it, is a 400 naming the limit.
    """
    if not body.strip():
        raise ApiError(400, "the request body is empty; send a JSON object", code="invalid_json")
    try:
        data = json.loads(body)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not UTF-8 text", code="invalid_json") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            f"the request body is not valid JSON: {exc.msg}"
            f" at line {exc.lineno} column {exc.colno}",
            code="invalid_json",
        ) from None
    if not isinstance(data, dict):
        raise ApiError(
            400,
            f"the request body must be a JSON object, not {_json_kind(data)}",
            code="invalid_json",
        )
    if _depth_exceeds(data, max_depth):
        raise _too_deep(max_depth)
    return data


def _depth_exceeds(data: Any, limit: int) -> bool:
    """Whether objects and arrays in data nest more than limit levels (without recursing)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def _too_deep(limit: int) -> ApiError:
    return ApiError(
        400,
        f"the request body nests objects and arrays more than {limit} levels deep (the limit)",
        code="json_too_deep",
    )


# --- Bounds on what a request may ask of Ollama ---------------------------------------------------


def check_ollama_options(options: OllamaOptions | None, settings: Settings) -> None:
    """400 naming the option when Ollama options exceed this service's bounds (every route)."""
    if options is None:
        return
    if options.num_ctx is not None:
        _at_most("options.num_ctx", options.num_ctx, settings.max_num_ctx)
    if options.num_predict is not None:
        _num_predict("options.num_predict", options.num_predict, settings.max_num_predict)
    if not settings.allow_runner_options:
        extra = options.model_extra or {}
        for name in RUNNER_OPTIONS:
            if name in extra:
                raise ApiError(
                    400,
                    f"options.{name}: not allowed by this service (it changes how Ollama "
                    "loads the model, which would reload it for every chat on this server)",
                    param=f"options.{name}",
                    code="option_not_allowed",
                )


def check_openai_limits(
    req: OpenAIChatRequest | OpenAICompletionRequest, settings: Settings
) -> None:
    """400 naming the field when an OpenAI request asks for more tokens than allowed."""
    for name in ("max_tokens", "max_completion_tokens"):
        value = getattr(req, name, None)
        if value is not None:
            _num_predict(name, value, settings.max_num_predict)


def _num_predict(param: str, value: int, limit: int) -> None:
    if limit == 0:
        return
    if value < 0:
        raise ApiError(
            400,
            f"{param}: {value} (no limit) is not allowed here: at most {limit} tokens",
            param=param,
            code="option_out_of_range",
        )
    _at_most(param, value, limit)


def _at_most(param: str, value: int, limit: int) -> None:
    if value > limit:
        raise ApiError(
            400,
            f"{param}: {value} is more than this service allows (at most {limit})",
            param=param,
            code="option_out_of_range",
        )


def validate(model: type[M], data: dict[str, Any]) -> M:
    """Check data against model; the first problem becomes a 400 naming its field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        param, message = describe(exc, data)
        raise ApiError(400, f"{param}: {message}" if param else message, param=param) from None


def describe(exc: ValidationError, data: Any) -> tuple[str | None, str]:
    """The field path and message of the most specific problem in exc.

    pydantic's error locations mix real keys with the names of union members ('str',
    'list[...]', a discriminator tag). Walking the location through the submitted data keeps
    only the parts that are really there, so the path reads as the client wrote it.
    """
    best: tuple[list[str | int], list[str]] | None = None
    for error in exc.errors(include_url=False):
        path = _real_path(tuple(error["loc"]), data, missing=error["type"] == "missing")
        message = _wording(error)
        if best is None or len(path) > len(best[0]):
            best = (path, [message])
        elif path == best[0] and message not in best[1]:
            best[1].append(message)
    if best is None:  # pragma: no cover - pydantic always lists at least one error
        return None, "invalid request"
    path, messages = best
    return (format_path(path) or None), " or ".join(messages)


def format_path(path: list[str | int]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _real_path(loc: tuple[Any, ...], data: Any, *, missing: bool) -> list[str | int]:
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(current, dict) and isinstance(part, str):
            if part in current:
                path.append(part)
                current = current[part]
                continue
            if last and missing:
                path.append(part)
            continue
        if isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
            continue
    return path


def _wording(error: Any) -> str:
    kind = error["type"]
    message = str(error["msg"])
    if kind == "missing":
        return "this field is required"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return "this field is not allowed"
    if kind == "union_tag_invalid":
        expected = error.get("ctx", {}).get("expected_tags", "")
        return f"unknown content part type; expected one of {expected}"
    if kind == "union_tag_not_found":
        return "each content part needs a 'type'"
    return message[0].lower() + message[1:] if message else kind


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"
