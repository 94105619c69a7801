"""The chat routes: Ollama's /api/chat passed through, OpenAI's chat completions translated.

Both go through the Relay (relay.py): the same slots, deadlines, disconnect handling and
metrics as every other route that runs the model.
"""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import openai_compat
from .relay import CLIENT_GONE_STATUS, Relay, with_defaults
from .validation import (
    OllamaChatRequest,
    OpenAIChatRequest,
    check_ollama_options,
    check_openai_limits,
    parse_json_object,
    validate,
)

__all__ = ["CLIENT_GONE_STATUS", "ChatService"]


class ChatService:
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.settings = relay.settings

    async def ollama_chat(self, request: Request) -> Response:
        started = asyncio.get_running_loop().time()
        data = parse_json_object(await request.body(), self.settings.max_json_depth)
        req = validate(OllamaChatRequest, data)
        check_ollama_options(req.options, self.settings)
        payload = with_defaults(
            data,
            self.settings,
            num_predict_given=req.options is not None and req.options.num_predict is not None,
            model_given=req.model is not None,
            keep_alive_given=req.keep_alive is not None,
        )
        return await self.relay.ollama(
            request, "/api/chat", "/api/chat", payload, started, req.stream
        )

    async def openai_chat(self, request: Request) -> Response:
        started = asyncio.get_running_loop().time()
        data = parse_json_object(await request.body(), self.settings.max_json_depth)
        req = validate(OpenAIChatRequest, data)
        check_openai_limits(req, self.settings)
        body = openai_compat.to_ollama_request(req, self.settings.keep_alive_value)
        if self.settings.max_num_predict:
            options = body.setdefault("options", {})
            options.setdefault("num_predict", self.settings.max_num_predict)
        payload = json.dumps(body, ensure_ascii=False).encode()
        route = "/v1/chat/completions"
        if not req.stream:
            answer = await self.relay.answer(request, "/api/chat", route, payload, started)
            if isinstance(answer, Response):
                return answer
            return JSONResponse(openai_compat.completion(answer, req.model))
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        translator = openai_compat.ChunkTranslator(req.model, include_usage)
        return await self.relay.translated(
            request, "/api/chat", route, payload, started, translator
        )
