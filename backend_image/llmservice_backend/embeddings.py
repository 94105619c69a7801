"""The embedding routes: Ollama's /api/embed and the older /api/embeddings passed through,
OpenAI's /v1/embeddings translated onto /api/embed.

An embedding runs the model like a chat does, so these take a slot, queue, answer 429, stop
when the client leaves and are cut by the shutdown like the chat routes (the Relay).
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .errors import ApiError
from .relay import Relay, tail_stats, with_defaults
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
        answer = await self.relay.answer(request, "/api/embed", "/v1/embeddings", payload, started)
        if isinstance(answer, Response):
            return answer
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
