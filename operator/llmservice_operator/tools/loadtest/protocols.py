"""The two chat APIs on the wire: request bodies, and answers read as pure state updates.

The OpenAI-compatible API streams server-sent events (``data: {...}`` lines ending in
``data: [DONE]``); Ollama's streams one JSON object per line, the last with ``done``. The
parsers take one line and a time at a time, so the runner owns the clock and the tests can
feed them the backend's own output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from llmservice_operator.tools.loadtest.config import Config
from llmservice_operator.tools.loadtest.records import MID_STREAM, Api, ChatResult

CHAT_PATHS: dict[Api, str] = {"openai": "/v1/chat/completions", "ollama": "/api/chat"}
HEALTH_PATH = "/healthz"


@dataclass
class StreamState:
    """What one stream has said so far: token times, the server's count, its end."""

    token_times: list[float] = field(default_factory=list)
    usage_tokens: int | None = None
    done: bool = False
    error: str | None = None
    text: str = ""

    @property
    def tokens(self) -> int:
        return self.usage_tokens if self.usage_tokens is not None else len(self.token_times)


def _dig(obj: Any, *keys: str | int) -> Any:
    """obj[k1][k2]... or None when any step is missing or of the wrong type: a server that
    answers nonsense makes a failed request, never a crashed user."""
    for key in keys:
        if isinstance(key, int):
            if not isinstance(obj, list) or len(obj) <= key:
                return None
        elif not isinstance(obj, dict):
            return None
        obj = obj[key] if isinstance(key, int) else obj.get(key)
    return obj


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def _stream_object(state: StreamState, text: str, unit: str) -> dict[str, Any] | None:
    """The JSON object one stream chunk carries, or None when there is nothing to count.

    A chunk that is not JSON, or that reports an error, records that on ``state`` so the
    request is counted as failed with the server's own words.
    """
    try:
        obj = json.loads(text)
    except ValueError:
        state.error = f"{unit} that is not JSON: {text[:80]!r}"
        return None
    if not isinstance(obj, dict):
        return None
    if "error" in obj:
        state.error = _error_text(obj["error"])
        return None
    return obj


def _add_content(state: StreamState, content: Any, now: float) -> None:
    """Count a non-empty piece of reply text as one token arriving at ``now``."""
    if isinstance(content, str) and content:
        state.token_times.append(now)
        state.text += content


def feed_openai_line(state: StreamState, line: str, now: float) -> None:
    """One line of an OpenAI chat-completions SSE stream."""
    if not line.startswith("data:"):
        return  # blank separators, comments, event:/id: fields
    data = line[5:].strip()
    if data == "[DONE]":
        state.done = True
        return
    obj = _stream_object(state, data, "an event")
    if obj is None:
        return
    completion_tokens = _dig(obj, "usage", "completion_tokens")
    if isinstance(completion_tokens, int):
        state.usage_tokens = completion_tokens
    _add_content(state, _dig(obj, "choices", 0, "delta", "content"), now)


def feed_ollama_line(state: StreamState, line: str, now: float) -> None:
    """One line of an Ollama /api/chat NDJSON stream."""
    if not line.strip():
        return
    obj = _stream_object(state, line, "a line")
    if obj is None:
        return
    _add_content(state, _dig(obj, "message", "content"), now)
    if obj.get("done"):
        if isinstance(obj.get("eval_count"), int):
            state.usage_tokens = obj["eval_count"]
        state.done = True


def parse_unary(api: Api, body: bytes) -> tuple[str, int]:
    """(reply text, completion tokens) of a non-streaming answer; ValueError if malformed."""
    obj = json.loads(body)
    if not isinstance(obj, dict):
        raise ValueError("the answer is not a JSON object")
    if "error" in obj:
        raise ValueError(_error_text(obj["error"]))
    if api == "openai":
        if not isinstance(_dig(obj, "choices", 0), dict):
            raise ValueError("the answer has no choices")
        text = str(_dig(obj, "choices", 0, "message", "content") or "")
        tokens = _dig(obj, "usage", "completion_tokens")
    else:
        if not obj.get("done"):
            raise ValueError("the answer is not done")
        text = str(_dig(obj, "message", "content") or "")
        tokens = obj.get("eval_count")
    return text, tokens if isinstance(tokens, int) else 0


def stream_result(
    api: Api, state: StreamState, started: float, ended: float
) -> tuple[ChatResult, str]:
    """The record and reply text of a stream the runner has stopped reading. A stream that
    reported an error, or ended before its API's end marker, is a mid-stream failure that
    keeps its token count; a complete one gives time to first token and the decode span."""
    latency = ended - started

    def failed(detail: str) -> tuple[ChatResult, str]:
        return ChatResult(started, latency, True, MID_STREAM, detail, tokens=state.tokens), ""

    if state.error is not None:
        return failed(short(state.error))
    if not state.done:
        end = "[DONE]" if api == "openai" else "the final done object"
        return failed(f"the stream ended before {end}")
    times = state.token_times
    return ChatResult(
        started,
        latency,
        True,
        ttft=times[0] - started if times else None,
        tokens=state.tokens,
        decode_seconds=times[-1] - times[0] if len(times) > 1 else None,
    ), state.text


def chat_body(config: Config, messages: list[dict[str, str]], stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": config.model, "messages": messages, "stream": stream}
    if config.api == "openai":
        if stream:
            body["stream_options"] = {"include_usage": True}
        if config.max_tokens is not None:
            body["max_tokens"] = config.max_tokens
    elif config.max_tokens is not None:
        body["options"] = {"num_predict": config.max_tokens}
    return body


def short(text: str) -> str:
    """One line of at most 160 characters: failure details are examples, not logs."""
    text = " ".join(text.split())
    return text if len(text) <= 160 else text[:157] + "..."


def http_error_detail(status: int, body: bytes) -> str:
    """The error message of a non-200 answer, whichever API (or proxy) wrote it."""
    try:
        obj = json.loads(body)
    except ValueError:
        return short(body.decode(errors="replace")) or f"HTTP {status}"
    if isinstance(obj, dict) and "error" in obj:
        return short(_error_text(obj["error"]))
    return short(body.decode(errors="replace"))
