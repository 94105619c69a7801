"""Plain ASGI middleware (no BaseHTTPMiddleware: it would buffer and slow the streams)."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, Dialect
from .metrics import Metrics, route_label


def dialect_for(path: str) -> Dialect:
    return "openai" if path.startswith("/v1/") else "ollama"


class MetricsMiddleware:
    """Counts every answer by route, method and status, and times it to the last byte."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = route_label(scope["path"])
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.request_seconds.labels(route).observe(time.perf_counter() - start)


class BodyLimitMiddleware:
    """Refuses request bodies over the limit: early by Content-Length, else while reading."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await _reject(scope, send, self._error())
                    return
                break
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise self._error()
            return message

        await self.app(scope, counting_receive, send)

    def _error(self) -> ApiError:
        return ApiError(
            413,
            f"the request body is larger than the limit of {self.limit} bytes",
            code="request_too_large",
        )


async def _reject(scope: Scope, send: Send, err: ApiError) -> None:
    body = err.body_bytes(dialect_for(scope["path"]))
    await send(
        {
            "type": "http.response.start",
            "status": err.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class MetricsPortMiddleware:
    """METRICS_PORT: the second listening socket answers GET /metrics and nothing else.

    The same server listens on both ports (one event loop, the same slow-client guard and
    shutdown); a request is told apart by the local port it arrived on. The Service exposes
    only BACKEND_PORT, where /metrics is then a 404, so the metrics stay inside the cluster's
    pod network for a pod monitor to scrape.
    """

    def __init__(self, app: ASGIApp, port: int, registry: CollectorRegistry) -> None:
        self.app = app
        self.port = port
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] != "http" or not server or server[1] != self.port:
            await self.app(scope, receive, send)
            return
        if scope["path"] != "/metrics":
            status, body, kind = 404, b"only /metrics is served on this port\n", b"text/plain"
        elif scope["method"] not in ("GET", "HEAD"):
            status, body, kind = 405, b"method not allowed\n", b"text/plain"
        else:
            status, body, kind = 200, generate_latest(self.registry), CONTENT_TYPE_LATEST.encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )
