"""The embedding routes: Ollama's /api/embed and the older /api/embeddings passed through,
OpenAI's /v1/embeddings translated onto /api/embed.

An embedding runs the model like a chat does, so these take a slot, queue, answer 429, stop
when the client leaves and are cut by the shutdown like the chat routes (the Relay).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import struct
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .errors import ApiError
from .relay import Relay, loads, tail_stats, with_defaults
from .validation import (
    OllamaEmbeddingsRequest,
    OllamaEmbedRequest,
    OpenAIEmbeddingRequest,
    check_ollama_options,
    parse_json_object,
    validate,
)


class EmbeddingService:
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.settings = relay.settings

    async def ollama_embed(self, request: Request) -> Response:
        """Ollama's batch embeddings (normalized vectors), passed through unchanged."""
        started = asyncio.get_running_loop().time()
        data = parse_json_object(await request.body(), self.settings.max_json_depth)
        req = validate(OllamaEmbedRequest, data)
        check_ollama_options(req.options, self.settings)
        payload = self._payload(data, req.model, req.keep_alive)
        return await self.relay.ollama(
            request, "/api/embed", "/api/embed", payload, started, False, tail_stats
        )

    async def ollama_embeddings(self, request: Request) -> Response:
        """Ollama's older one-prompt embeddings route, passed through to its own upstream."""
        started = asyncio.get_running_loop().time()
        data = parse_json_object(await request.body(), self.settings.max_json_depth)
        req = validate(OllamaEmbeddingsRequest, data)
        check_ollama_options(req.options, self.settings)
        payload = self._payload(data, req.model, req.keep_alive)
        route = "/api/embeddings"
        # No statistics in this older answer: nothing to parse for the metrics.
        return await self.relay.ollama(request, route, route, payload, started, False, _no_stats)

    async def openai_embeddings(self, request: Request) -> Response:
        started = asyncio.get_running_loop().time()
        data = parse_json_object(await request.body(), self.settings.max_json_depth)
        req = validate(OpenAIEmbeddingRequest, data)
        texts = [req.input] if isinstance(req.input, str) else list(req.input)
        body: dict[str, Any] = {
            "model": req.model,
            "input": texts,
            "keep_alive": self.settings.keep_alive_value,
        }
        if req.dimensions is not None:
            body["dimensions"] = req.dimensions
        payload = json.dumps(body, ensure_ascii=False).encode()
        raw = await self.relay.answer_bytes(
            request, "/api/embed", "/v1/embeddings", payload, started, tail_stats
        )
        if isinstance(raw, Response):
            return raw
        spliced = splice_list(raw, req.model, req.encoding_format, len(texts))
        if spliced is not None:
            return Response(spliced, media_type="application/json")
        answer = loads(raw)
        return JSONResponse(openai_list(answer, req.model, req.encoding_format, len(texts)))

    def _payload(self, data: dict[str, Any], model: str | None, keep_alive: object) -> bytes:
        return with_defaults(
            data,
            self.settings,
            num_predict_given=True,
            model_given=model is not None,
            keep_alive_given=keep_alive is not None,
            generates=False,
        )


_VECTORS = re.compile(rb'"embeddings"\s*:\s*\[')
# One vector: JSON numbers only, comma-separated (no strings, objects or arrays inside),
# then a comma or the end; anything else is parsed the slow way (and refused if malformed).
_NUMBER = rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
_VECTOR = re.compile(
    rb"\s*\[\s*((?:" + _NUMBER + rb")(?:\s*,\s*" + _NUMBER + rb")*)?\s*\]\s*([,\]])"
)


def splice_list(raw: bytes, model: str, encoding_format: str, expected: int) -> bytes | None:
    """OpenAI's embedding list built from the text of Ollama's vectors, without parsing them.

    Parsing an answer of 8 vectors of 768 numbers and printing the numbers again took
    several milliseconds of CPU (benchmarks/backend_overhead.py); the numbers Ollama wrote
    are valid JSON already. None when the answer is not laid out as expected (then it is
    parsed, and a malformed answer is a 502).
    """
    found = _VECTORS.search(raw)
    if found is None:
        return None
    vectors: list[bytes] = []
    at = found.end()
    while True:
        vector = _VECTOR.match(raw, at)
        if vector is None:
            return None
        vectors.append(vector.group(1) or b"")
        at = vector.end()
        if vector.group(2) == b"]":
            break
    if len(vectors) != expected:
        return None
    items = []
    for index, text in enumerate(vectors):
        if encoding_format == "base64":
            numbers = json.loads(b"[" + text + b"]")
            packed = base64.b64encode(struct.pack(f"<{len(numbers)}f", *numbers))
            embedding = b'"' + packed + b'"'
        else:
            embedding = b"[" + text + b"]"
        items.append(b'{"object":"embedding","index":%d,"embedding":%s}' % (index, embedding))
    tokens = int(tail_stats(raw).get("prompt_eval_count") or 0)
    return (
        b'{"object":"list","data":['
        + b",".join(items)
        + b'],"model":'
        + json.dumps(model, ensure_ascii=False).encode()
        + b',"usage":{"prompt_tokens":%d,"total_tokens":%d}}' % (tokens, tokens)
    )


def _no_stats(raw: bytes) -> dict[str, Any]:
    return {}


def openai_list(
    answer: dict[str, Any], model: str, encoding_format: str, expected: int
) -> dict[str, Any]:
    """OpenAI's embedding list from Ollama's /api/embed answer; 502 if the answer is malformed."""
    vectors = answer.get("embeddings")
    if not isinstance(vectors, list) or len(vectors) != expected:
        raise ApiError(
            502,
            f"Ollama answered {len(vectors) if isinstance(vectors, list) else 'no'} embeddings "
            f"for {expected} inputs",
            code="upstream_error",
        )
    data = []
    for index, vector in enumerate(vectors):
        if not isinstance(vector, list) or not all(isinstance(x, int | float) for x in vector):
            raise ApiError(
                502, "Ollama sent an embedding that is not a list of numbers", code="upstream_error"
            )
        embedding: list[float] | str = vector
        if encoding_format == "base64":
            # What OpenAI sends: the little-endian float32 bytes of the vector, in base64.
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = int(answer.get("prompt_eval_count") or 0)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
