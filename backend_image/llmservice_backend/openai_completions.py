"""OpenAI's legacy text completions (/v1/completions) on Ollama's /api/generate. Pure functions.

The prompt goes to /api/generate as Ollama's own OpenAI-compatible route sends it (the model's
template applies); one prompt and one choice per request.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from .errors import ApiError
from .openai_compat import DONE_EVENT, finish_reason, usage
from .validation import OpenAICompletionRequest


def to_generate_request(
    req: OpenAICompletionRequest, keep_alive: str | int | float
) -> dict[str, Any]:
    """The /api/generate body for an OpenAI completion request (already validated)."""
    if req.stream_options is not None and not req.stream:
        raise ApiError(
            400, "stream_options: only allowed when stream is true", param="stream_options"
        )
    prompt = req.prompt if isinstance(req.prompt, str) else req.prompt[0]
    body: dict[str, Any] = {
        "model": req.model,
        "prompt": prompt,
        "stream": req.stream,
        "keep_alive": keep_alive,
    }
    if req.suffix is not None:
        body["suffix"] = req.suffix
    options: dict[str, Any] = {}
    for name in ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty"):
        value = getattr(req, name)
        if value is not None:
            options[name] = value
    if req.max_tokens is not None:
        options["num_predict"] = req.max_tokens
    if req.stop is not None:
        options["stop"] = [req.stop] if isinstance(req.stop, str) else list(req.stop)
    if options:
        body["options"] = options
    return body


def completion_id() -> str:
    return "cmpl-" + secrets.token_hex(12)


def text_completion(answer: dict[str, Any], model: str) -> dict[str, Any]:
    """A text_completion object from Ollama's non-streaming /api/generate answer."""
    return {
        "id": completion_id(),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_ollama",
        "choices": [
            {
                "index": 0,
                "text": answer.get("response", ""),
                "finish_reason": finish_reason(answer, False),
                "logprobs": None,
            }
        ],
        "usage": usage(answer),
    }


class TextChunkTranslator:
    """Ollama's /api/generate stream objects as OpenAI text_completion SSE events."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.id = completion_id()
        self.created = int(time.time())

    def _event(self, choices: list[dict[str, Any]], usage_value: Any = ...) -> bytes:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_ollama",
            "choices": choices,
        }
        if usage_value is not ...:
            chunk["usage"] = usage_value
        elif self.include_usage:
            chunk["usage"] = None
        data = json.dumps(chunk, ensure_ascii=False, separators=(",", ":")).encode()
        return b"data: " + data + b"\n\n"

    def translate(self, obj: dict[str, Any]) -> bytes:
        text = obj.get("response") or ""
        done = bool(obj.get("done"))
        out = b""
        if text or not done:
            out += self._event(
                [{"index": 0, "text": text, "finish_reason": None, "logprobs": None}]
            )
        if done:
            out += self._event(
                [
                    {
                        "index": 0,
                        "text": "",
                        "finish_reason": finish_reason(obj, False),
                        "logprobs": None,
                    }
                ]
            )
            if self.include_usage:
                out += self._event([], usage(obj))
            out += DONE_EVENT
        return out
