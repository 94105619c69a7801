"""Sending one request to Ollama under the service's rules: slots, deadlines, disconnects.

Every route that makes Ollama run the model (chat, generate, embeddings, in both dialects)
goes through a Relay, so all of them share the slot limiter (429 + Retry-After when the
queue is full), the first-token, idle and total deadlines, the SIGTERM drain (the deadlines
come from ``Upstream``, which the drain can bring forward), cancellation when the client
leaves, and the metrics. The route modules only check and translate bodies.

The hot path is kept short on purpose: Ollama's NDJSON bytes go to the client as they arrive
(no parsing per token; only the last line is read, for the statistics), one pooled HTTP
client, no logging per token.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from starlette.requests import Request
from starlette.responses import Response

from . import openai_compat
from .errors import ApiError
from .limiter import ConcurrencyLimiter
from .metrics import Metrics
from .settings import Settings
from .streaming import ClientGone, ProxyStream, guarded
from .upstream import ChunkReader, Upstream

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


class Translator(Protocol):
    """Turns Ollama stream objects into another protocol's events (one stream's state)."""

    def translate(self, obj: dict[str, Any]) -> bytes: ...


class Relay:
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

    # --- whole exchanges ------------------------------------------------------------------------

    async def ollama(
        self,
        request: Request,
        path: str,
        route: str,
        payload: bytes,
        started: float,
        stream: bool,
        stats: Callable[[bytes], dict[str, Any]] | None = None,
    ) -> Response:
        """Ollama's answer passed through unchanged: NDJSON when streamed, else one object.

        stats reads the statistics for the metrics from a one-object answer (default: the
        whole answer, parsed, which also checks that it is JSON).
        """
        try:
            if not stream:
                raw = await guarded(request.receive, self.unary(path, payload, started))
                self.metrics.observe_generation(route, (stats or loads)(raw))
                return Response(raw, media_type="application/json")
            opened = await guarded(request.receive, self.open_stream(path, payload, started, route))
        except ClientGone:
            return self.gone()
        outcome = StreamOutcome()
        # Ollama's own content type: a prompt-less /api/generate (load, unload) is one
        # application/json object even when a stream was asked for, and clients that parse
        # it as JSON check the type (Open WebUI's unload does).
        media_type = opened.response.headers.get("content-type") or NDJSON
        return ProxyStream(
            self.passthrough(opened, outcome), media_type, self.closer(route, opened, outcome)
        )

    async def answer(
        self, request: Request, path: str, route: str, payload: bytes, started: float
    ) -> dict[str, Any] | Response:
        """Ollama's one-object answer, parsed; or the response for a client that left."""
        try:
            raw = await guarded(request.receive, self.unary(path, payload, started))
        except ClientGone:
            return self.gone()
        answer = loads(raw)
        self.metrics.observe_generation(route, answer)
        return answer

    async def answer_bytes(
        self,
        request: Request,
        path: str,
        route: str,
        payload: bytes,
        started: float,
        stats: Callable[[bytes], dict[str, Any]],
    ) -> bytes | Response:
        """Ollama's one-object answer unparsed (stats reads the metrics' figures from it); or
        the response for a client that left."""
        try:
            raw = await guarded(request.receive, self.unary(path, payload, started))
        except ClientGone:
            return self.gone()
        self.metrics.observe_generation(route, stats(raw))
        return raw

    async def translated(
        self,
        request: Request,
        path: str,
        route: str,
        payload: bytes,
        started: float,
        translator: Translator,
    ) -> Response:
        """Ollama's NDJSON stream as OpenAI SSE events (translator's), ended by [DONE]."""
        try:
            opened = await guarded(request.receive, self.open_stream(path, payload, started, route))
        except ClientGone:
            return self.gone()
        outcome = StreamOutcome()
        return ProxyStream(
            self.sse(opened, translator, outcome), SSE, self.closer(route, opened, outcome)
        )

    def gone(self) -> Response:
        self.metrics.client_disconnects.inc()
        return Response(status_code=CLIENT_GONE_STATUS)

    # --- talking to Ollama ----------------------------------------------------------------------

    async def unary(self, path: str, payload: bytes, started: float) -> bytes:
        loop = asyncio.get_running_loop()
        total = self.settings.request_timeout_seconds
        deadline = started + total
        await self.limiter.acquire()
        acquired = loop.time()
        what = path.removeprefix("/api/")
        try:
            response = await self.upstream.open(
                path, payload, deadline=deadline, limit=total, what="no reply from Ollama"
            )
            await self.upstream.check(response, deadline=deadline, what=what)
            return await self.upstream.read_all(response, deadline=deadline, limit=total, what=what)
        except ApiError as err:
            self.metrics.upstream_errors.labels(err.code or "error").inc()
            raise
        finally:
            self.limiter.release(loop.time() - acquired)

    async def open_stream(self, path: str, payload: bytes, started: float, route: str) -> Opened:
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
                path,
                payload,
                deadline=first_deadline,
                limit=s.first_token_timeout_seconds,
                what="no first token from Ollama",
            )
            await self.upstream.check(
                response, deadline=total_deadline, what=path.removeprefix("/api/")
            )
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

    async def passthrough(
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

    async def sse(
        self, opened: Opened, translator: Translator, outcome: StreamOutcome
    ) -> AsyncGenerator[bytes, None]:
        reader = opened.reader
        pending = b""
        chunk: bytes | None = opened.first
        try:
            while chunk is not None:
                pending += chunk
                lines = pending.split(b"\n")
                pending = lines.pop()
                out, failure = _translate_lines(lines, translator, outcome)
                if out:
                    yield out
                if failure is not None:
                    raise failure
                if outcome.final is not None:
                    return
                chunk = await reader.next()
            out, failure = _translate_lines([pending], translator, outcome)
            if out:
                yield out
            if failure is not None:
                raise failure
            if outcome.final is None:
                raise ApiError(
                    502, "Ollama ended the reply before it was complete", code="upstream_error"
                )
        except ApiError as err:
            outcome.error = err
            yield openai_compat.error_event(err)
        finally:
            await opened.response.aclose()

    def closer(self, route: str, opened: Opened, outcome: StreamOutcome) -> Callable[[bool], None]:
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
    lines: list[bytes], translator: Translator, outcome: StreamOutcome
) -> tuple[bytes, ApiError | None]:
    """The events for lines, and the failure that ended them if one did.

    What came before a failure is returned with it: a piece of the reply and Ollama's error
    line often arrive in the same chunk, and the piece must still reach the client.
    """
    out = b""
    for line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            return out, ApiError(502, "Ollama sent a line that is not JSON", code="upstream_error")
        if not isinstance(obj, dict):
            continue
        if "error" in obj:
            failure = ApiError(
                502, f"Ollama failed mid-reply: {obj['error']}", code="upstream_error"
            )
            return out, failure
        out += translator.translate(obj)
        if obj.get("done"):
            outcome.final = obj
            break
    return out, None


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


def loads(raw: bytes) -> dict[str, Any]:
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


_PROMPT_EVAL_COUNT = re.compile(rb'"prompt_eval_count"\s*:\s*(\d+)')


def tail_stats(raw: bytes) -> dict[str, Any]:
    """prompt_eval_count from an answer's end, without parsing what comes before it.

    An /api/embed answer is mostly vectors (thousands of numbers per input) followed by the
    statistics; parsing it whole only to count tokens cost milliseconds per request.
    """
    at = raw.rfind(b'"prompt_eval_count"')
    match = _PROMPT_EVAL_COUNT.match(raw, at) if at >= 0 else None
    return {"prompt_eval_count": int(match.group(1))} if match else {}


def with_defaults(
    data: dict[str, Any],
    settings: Settings,
    *,
    num_predict_given: bool,
    model_given: bool,
    keep_alive_given: bool,
    generates: bool = True,
) -> bytes:
    """The body for Ollama with the service's defaults filled in, encoded.

    The model defaults to the one this service runs. keep_alive defaults to the service's:
    without it Ollama would reset the model's keep-alive to its own five minutes on every
    request, chat or embedding alike. A generating request that names no num_predict gets
    MAX_NUM_PREDICT when one is set (Ollama's own default is no limit).
    """
    if generates and settings.max_num_predict and not num_predict_given:
        options = data.get("options") or {}
        data["options"] = {**options, "num_predict": settings.max_num_predict}
    if not model_given:
        data["model"] = settings.model_name
    if not keep_alive_given:
        data["keep_alive"] = settings.keep_alive_value
    return json.dumps(data, ensure_ascii=False).encode()
