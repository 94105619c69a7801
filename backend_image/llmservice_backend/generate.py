"""The text-generation routes: Ollama's /api/generate passed through, OpenAI's /v1/completions
translated onto it. Both run through the Relay, like the chat routes."""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import openai_completions
from .relay import Relay, with_defaults
from .validation import (
    OllamaGenerateRequest,
    OpenAICompletionRequest,
    check_ollama_options,
    check_openai_limits,
    parse_json_object,
    validate,
)

UPSTREAM = "/api/generate"


class GenerateService:
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.settings = relay.settings

    async def ollama_generate(self, request: Request) -> Response:
        """NDJSON stream by default, one object with stream=false; a request without a prompt
        only loads the model (or unloads it with keep_alive 0), as in Ollama."""
        started = asyncio.get_running_loop().time()
        data = parse_json_object(await request.body(), self.settings.max_json_depth)
        req = validate(OllamaGenerateRequest, data)
        check_ollama_options(req.options, self.settings)
        payload = with_defaults(
            data,
            self.settings,
            num_predict_given=req.options is not None and req.options.num_predict is not None,
            model_given=req.model is not None,
            keep_alive_given=req.keep_alive is not None,
        )
        return await self.relay.ollama(
            request, UPSTREAM, "/api/generate", payload, started, req.stream
        )

    async def openai_completions(self, request: Request) -> Response:
        started = asyncio.get_running_loop().time()
        data = parse_json_object(await request.body(), self.settings.max_json_depth)
        req = validate(OpenAICompletionRequest, data)
        check_openai_limits(req, self.settings)
        body = openai_completions.to_generate_request(req, self.settings.keep_alive_value)
        if self.settings.max_num_predict:
            options = body.setdefault("options", {})
            options.setdefault("num_predict", self.settings.max_num_predict)
        payload = json.dumps(body, ensure_ascii=False).encode()
        route = "/v1/completions"
        if not req.stream:
            answer = await self.relay.answer(request, UPSTREAM, route, payload, started)
            if isinstance(answer, Response):
                return answer
            return JSONResponse(openai_completions.text_completion(answer, req.model))
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        translator = openai_completions.TextChunkTranslator(req.model, include_usage)
        return await self.relay.translated(request, UPSTREAM, route, payload, started, translator)
