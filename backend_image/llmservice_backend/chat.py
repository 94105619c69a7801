"""The chat routes: Ollama's /api/chat passed through, OpenAI's chat completions translated.

The hot path is kept short on purpose: Ollama's NDJSON bytes go to the client as they arrive
(no parsing per token; only the last line is read, for the statistics), one pooled httpx
client, no logging per token. Both APIs share the slot limiter, the deadlines and the
disconnect handling, so they behave the same under load and on failure.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import openai_compat
from .errors import ApiError
from .limiter import ConcurrencyLimiter
from .metrics import Metrics
from .settings import Settings
from .streaming import ClientGone, ProxyStream, guarded
from .upstream import ChunkReader, Upstream
from .validation import (
    OllamaChatRequest,
    OpenAIChatRequest,
    check_ollama_options,
    check_openai_limits,
    parse_json_object,
    validate,
)

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
CLIENT_GONE_STATUS = 499  # nginx's word for "the client closed the request"


@dataclass
class StreamOutcome:
    final: dict[str, Any] | None = None
    error: ApiError | None = None


@dataclass
class Opened:
    response: httpx.Response
    reader: ChunkReader
    first: bytes
    acquired_at: float


class ChatService:
    def __init__(
        self,
        settings: Settings,
        upstream: Upstream,
        limiter: ConcurrencyLimiter,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.upstream = upstream
        self.limiter = limiter
        self.metrics = metrics

    # --- routes ---------------------------------------------------------------------------------

    async def ollama_chat(self, request: Request) -> Response:
        started = asyncio.get_running_loop().time()
        data = parse_json_object(await request.body(), self.settings.max_json_depth)
        req = validate(OllamaChatRequest, data)
        check_ollama_options(req, self.settings)
        if self.settings.max_num_predict and (
            req.options is None or req.options.num_predict is None
        ):
            # Ollama's default is no limit; bounded here unless the client chose fewer tokens.
            options = data.get("options") or {}
            data["options"] = {**options, "num_predict": self.settings.max_num_predict}
        if req.model is None:
            data["model"] = self.settings.model_name
        if req.keep_alive is None:
            # Without it Ollama would unload the model after its default five minutes.
            data["keep_alive"] = self.settings.keep_alive_value
        payload = json.dumps(data, ensure_ascii=False).encode()
        route = "/api/chat"
        try:
            if not req.stream:
                raw = await guarded(request.receive, self._unary(payload, started))
                self.metrics.observe_generation(route, _loads(raw))
                return Response(raw, media_type="application/json")
            opened = await guarded(request.receive, self._open_stream(payload, started, route))
        except ClientGone:
            self.metrics.client_disconnects.inc()
            return Response(status_code=CLIENT_GONE_STATUS)
        outcome = StreamOutcome()
        return ProxyStream(
            self._passthrough(opened, outcome),
            NDJSON,
            self._closer(route, opened, outcome),
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
        try:
            if not req.stream:
                raw = await guarded(request.receive, self._unary(payload, started))
                answer = _loads(raw)
                self.metrics.observe_generation(route, answer)
                return JSONResponse(openai_compat.completion(answer, req.model))
            opened = await guarded(request.receive, self._open_stream(payload, started, route))
        except ClientGone:
            self.metrics.client_disconnects.inc()
            return Response(status_code=CLIENT_GONE_STATUS)
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        translator = openai_compat.ChunkTranslator(req.model, include_usage)
        outcome = StreamOutcome()
        return ProxyStream(
            self._sse(opened, translator, outcome),
            SSE,
            self._closer(route, opened, outcome),
        )

    # --- talking to Ollama ----------------------------------------------------------------------

    async def _unary(self, payload: bytes, started: float) -> bytes:
        loop = asyncio.get_running_loop()
        total = self.settings.request_timeout_seconds
        deadline = started + total
        await self.limiter.acquire()
        acquired = loop.time()
        try:
            response = await self.upstream.open(
                "/api/chat", payload, deadline=deadline, limit=total, what="no reply from Ollama"
            )
            await self.upstream.check(response, deadline=deadline, what="chat")
            return await self.upstream.read_all(
                response, deadline=deadline, limit=total, what="chat"
            )
        except ApiError as err:
            self.metrics.upstream_errors.labels(err.code or "error").inc()
            raise
        finally:
            self.limiter.release(loop.time() - acquired)

    async def _open_stream(self, payload: bytes, started: float, route: str) -> Opened:
        """Take a slot, send the request and wait for the first chunk (headers not sent yet).

        Waiting for the first chunk before answering lets an early failure (unknown model,
        Ollama down, no first token in time) reach the client as a proper HTTP status.
        """
        loop = asyncio.get_running_loop()
        s = self.settings
        total_deadline = started + s.request_timeout_seconds
        await self.limiter.acquire()
        acquired = loop.time()
        first_deadline = min(acquired + s.first_token_timeout_seconds, total_deadline)
        response: httpx.Response | None = None
        try:
            response = await self.upstream.open(
                "/api/chat",
                payload,
                deadline=first_deadline,
                limit=s.first_token_timeout_seconds,
                what="no first token from Ollama",
            )
            await self.upstream.check(response, deadline=total_deadline, what="chat")
            reader = ChunkReader(
                response,
                self.upstream,
                first_deadline=first_deadline,
                total_deadline=total_deadline,
            )
            first = await reader.next()
            if first is None:
                raise ApiError(
                    502, "Ollama ended the reply without any output", code="upstream_error"
                )
        except BaseException as exc:
            if response is not None:
                await response.aclose()
            self.limiter.release(loop.time() - acquired)
            if isinstance(exc, ApiError):
                self.metrics.upstream_errors.labels(exc.code or "error").inc()
            raise
        self.metrics.ttft_seconds.labels(route).observe(loop.time() - started)
        return Opened(response, reader, first, acquired)

    async def _passthrough(
        self, opened: Opened, outcome: StreamOutcome
    ) -> AsyncGenerator[bytes, None]:
        """Ollama's bytes unchanged; the last two chunks are kept to find the final object."""
        reader = opened.reader
        previous = b""
        last = opened.first
        try:
            yield last
            while (chunk := await reader.next()) is not None:
                previous, last = last, chunk
                yield chunk
            outcome.final, upstream_error = _last_object(previous + last)
            if upstream_error is not None:
                outcome.error = ApiError(502, upstream_error, code="upstream_error")
        except ApiError as err:
            outcome.error = err
            yield err.body_bytes("ollama") + b"\n"
        finally:
            await opened.response.aclose()

    async def _sse(
        self,
        opened: Opened,
        translator: openai_compat.ChunkTranslator,
        outcome: StreamOutcome,
    ) -> AsyncGenerator[bytes, None]:
        reader = opened.reader
        pending = b""
        chunk: bytes | None = opened.first
        try:
            while chunk is not None:
                pending += chunk
                lines = pending.split(b"\n")
                pending = lines.pop()
                out = _translate_lines(lines, translator, outcome)
                if out:
                    yield out
                if outcome.final is not None:
                    return
                chunk = await reader.next()
            out = _translate_lines([pending], translator, outcome)
            if out:
                yield out
            if outcome.final is None:
                raise ApiError(
                    502, "Ollama ended the reply before it was complete", code="upstream_error"
                )
        except ApiError as err:
            outcome.error = err
            yield openai_compat.error_event(err)
        finally:
            await opened.response.aclose()

    def _closer(self, route: str, opened: Opened, outcome: StreamOutcome) -> Callable[[bool], None]:
        def close(client_gone: bool) -> None:
            loop = asyncio.get_running_loop()
            self.limiter.release(loop.time() - opened.acquired_at)
            if client_gone:
                self.metrics.client_disconnects.inc()
            if outcome.error is not None:
                self.metrics.upstream_errors.labels(outcome.error.code or "error").inc()
            if outcome.final is not None:
                self.metrics.observe_generation(route, outcome.final)

        return close


def _translate_lines(
    lines: list[bytes], translator: openai_compat.ChunkTranslator, outcome: StreamOutcome
) -> bytes:
    out = b""
    for line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise ApiError(
                502, "Ollama sent a line that is not JSON", code="upstream_error"
            ) from None
        if not isinstance(obj, dict):
            continue
        if "error" in obj:
            raise ApiError(502, f"Ollama failed mid-reply: {obj['error']}", code="upstream_error")
        out += translator.translate(obj)
        if obj.get("done"):
            outcome.final = obj
            break
    return out


def _last_object(tail: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(final statistics, error text) from the end of an NDJSON stream."""
    for line in reversed(tail.split(b"\n")):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            return None, None
        if not isinstance(obj, dict):
            return None, None
        if "error" in obj:
            return None, str(obj["error"])
        return (obj, None) if obj.get("done") else (None, None)
    return None, None


def _loads(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise ApiError(
            502, "Ollama sent an answer that is not JSON", code="upstream_error"
        ) from None
    if not isinstance(value, dict):
        raise ApiError(
            502, "Ollama sent an answer that is not a JSON object", code="upstream_error"
        )
    return value
