"""Translation between OpenAI's chat completions API and Ollama's /api/chat. Pure functions.

Ollama has its own OpenAI-compatible routes, but going through /api/chat keeps one upstream
path for both APIs: the same limits, timeouts, metrics and final statistics.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime
from typing import Any

from .errors import ApiError
from .validation import ImagePart, OpenAIChatRequest, OpenAIMessage, TextPart

DONE_EVENT = b"data: [DONE]\n\n"


def to_ollama_request(req: OpenAIChatRequest, keep_alive: str | int | float) -> dict[str, Any]:
    """The /api/chat body for an OpenAI request; raises a 400 naming the field it cannot map."""
    if req.stream_options is not None and not req.stream:
        raise ApiError(
            400,
            "stream_options: only allowed when stream is true",
            param="stream_options",
        )
    if req.logprobs:
        raise ApiError(400, "logprobs: not supported by this service", param="logprobs")
    body: dict[str, Any] = {
        "model": req.model,
        "messages": [_message(i, m) for i, m in enumerate(req.messages)],
        "stream": req.stream,
        "keep_alive": keep_alive,
    }
    options = _options(req)
    if options:
        body["options"] = options
    fmt = _format(req)
    if fmt is not None:
        body["format"] = fmt
    if req.tools and req.tool_choice != "none":
        body["tools"] = [t.model_dump(by_alias=True, exclude_none=True) for t in req.tools]
    return body


def _options(req: OpenAIChatRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if req.temperature is not None:
        options["temperature"] = req.temperature
    if req.top_p is not None:
        options["top_p"] = req.top_p
    limit = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
    if limit is not None:
        options["num_predict"] = limit
    if req.stop is not None:
        options["stop"] = [req.stop] if isinstance(req.stop, str) else list(req.stop)
    if req.seed is not None:
        options["seed"] = req.seed
    if req.presence_penalty is not None:
        options["presence_penalty"] = req.presence_penalty
    if req.frequency_penalty is not None:
        options["frequency_penalty"] = req.frequency_penalty
    return options


def _format(req: OpenAIChatRequest) -> str | dict[str, Any] | None:
    rf = req.response_format
    if rf is None or rf.type == "text":
        return None
    if rf.type == "json_object":
        return "json"
    if rf.json_schema is None:
        raise ApiError(
            400,
            "response_format.json_schema: this field is required when type is json_schema",
            param="response_format.json_schema",
        )
    return rf.json_schema.schema_


def _message(index: int, msg: OpenAIMessage) -> dict[str, Any]:
    where = f"messages[{index}]"
    role = "system" if msg.role == "developer" else msg.role
    out: dict[str, Any] = {"role": role}
    if msg.content is None:
        if not (msg.role == "assistant" and msg.tool_calls):
            raise ApiError(
                400,
                f"{where}.content: this field is required (only an assistant message with "
                "tool_calls may leave it out)",
                param=f"{where}.content",
            )
        out["content"] = ""
    elif isinstance(msg.content, str):
        out["content"] = msg.content
    else:
        texts: list[str] = []
        images: list[str] = []
        for j, part in enumerate(msg.content):
            if isinstance(part, TextPart):
                texts.append(part.text)
            elif isinstance(part, ImagePart):
                images.append(
                    _image_data(part.image_url.url, f"{where}.content[{j}].image_url.url")
                )
        out["content"] = "\n".join(texts)
        if images:
            out["images"] = images
    if msg.role == "tool":
        if not msg.tool_call_id:
            raise ApiError(
                400,
                f"{where}.tool_call_id: this field is required for a tool message",
                param=f"{where}.tool_call_id",
            )
        if msg.name:
            out["tool_name"] = msg.name
    if msg.tool_calls:
        out["tool_calls"] = [
            {
                "function": {
                    "name": c.function.name,
                    "arguments": _arguments(
                        c.function.arguments, f"{where}.tool_calls[{k}].function.arguments"
                    ),
                }
            }
            for k, c in enumerate(msg.tool_calls)
        ]
    return out


def _image_data(url: str, param: str) -> str:
    """Ollama takes images as bare base64; only data: URLs can be turned into that offline."""
    if not url.startswith("data:") or ";base64," not in url:
        raise ApiError(
            400,
            f"{param}: only data:<type>;base64,<data> image URLs are supported "
            "(this service does not fetch remote images)",
            param=param,
        )
    return url.split(";base64,", 1)[1]


def _arguments(text: str, param: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError:
        raise ApiError(
            400, f"{param}: must be a JSON object encoded as a string", param=param
        ) from None
    if not isinstance(value, dict):
        raise ApiError(400, f"{param}: must be a JSON object encoded as a string", param=param)
    return value


# --- Answers ------------------------------------------------------------------------------------


def completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def finish_reason(final: dict[str, Any], saw_tool_calls: bool) -> str:
    if saw_tool_calls:
        return "tool_calls"
    return "length" if final.get("done_reason") == "length" else "stop"


def usage(final: dict[str, Any]) -> dict[str, int]:
    prompt = int(final.get("prompt_eval_count") or 0)
    completion = int(final.get("eval_count") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _tool_calls(calls: list[dict[str, Any]], start: int = 0) -> list[dict[str, Any]]:
    out = []
    for k, call in enumerate(calls, start=start):
        function = call.get("function") or {}
        out.append(
            {
                "index": k,
                "id": "call_" + secrets.token_hex(8),
                "type": "function",
                "function": {
                    "name": function.get("name", ""),
                    "arguments": json.dumps(function.get("arguments") or {}),
                },
            }
        )
    return out


def completion(answer: dict[str, Any], model: str, created: int | None = None) -> dict[str, Any]:
    """A chat.completion object from Ollama's non-streaming /api/chat answer."""
    message = answer.get("message") or {}
    calls = message.get("tool_calls") or []
    out_message: dict[str, Any] = {"role": "assistant", "content": message.get("content", "")}
    if calls:
        out_message["tool_calls"] = [
            {k: v for k, v in call.items() if k != "index"} for call in _tool_calls(calls)
        ]
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": created if created is not None else int(time.time()),
        "model": model,
        "system_fingerprint": "fp_ollama",
        "choices": [
            {
                "index": 0,
                "message": out_message,
                "finish_reason": finish_reason(answer, bool(calls)),
                "logprobs": None,
            }
        ],
        "usage": usage(answer),
    }


class ChunkTranslator:
    """Turns Ollama's NDJSON stream objects into OpenAI SSE events, one stream's state."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.id = completion_id()
        self.created = int(time.time())
        self._sent_role = False
        self._tool_calls = 0

    def _event(self, delta: dict[str, Any], finish: str | None) -> bytes:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_ollama",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if self.include_usage:
            chunk["usage"] = None
        return (
            b"data: "
            + json.dumps(chunk, ensure_ascii=False, separators=(",", ":")).encode()
            + b"\n\n"
        )

    def translate(self, obj: dict[str, Any]) -> bytes:
        """SSE bytes for one Ollama stream object (an error object is the caller's business)."""
        message = obj.get("message") or {}
        delta: dict[str, Any] = {}
        if not self._sent_role:
            delta["role"] = "assistant"
            self._sent_role = True
        content = message.get("content")
        if content:
            delta["content"] = content
        calls = message.get("tool_calls")
        if calls:
            delta["tool_calls"] = _tool_calls(calls, start=self._tool_calls)
            self._tool_calls += len(calls)
        out = b""
        if delta:
            if "tool_calls" not in delta:
                delta.setdefault("content", "")
            out += self._event(delta, None)
        if obj.get("done"):
            out += self._event({}, finish_reason(obj, self._tool_calls > 0))
            if self.include_usage:
                final = {
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "system_fingerprint": "fp_ollama",
                    "choices": [],
                    "usage": usage(obj),
                }
                out += b"data: " + json.dumps(final, separators=(",", ":")).encode() + b"\n\n"
            out += DONE_EVENT
        return out


def error_event(err: ApiError) -> bytes:
    return b"data: " + err.body_bytes("openai") + b"\n\n"


def models_list(tags: dict[str, Any]) -> dict[str, Any]:
    """GET /v1/models from Ollama's /api/tags."""
    data = []
    for entry in tags.get("models") or []:
        name = entry.get("model") or entry.get("name")
        if not name:
            continue
        data.append(
            {
                "id": name,
                "object": "model",
                "created": _epoch(entry.get("modified_at")),
                "owned_by": "library",
            }
        )
    return {"object": "list", "data": data}


def _epoch(stamp: Any) -> int:
    if not isinstance(stamp, str):
        return 0
    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0
