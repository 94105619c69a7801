"""The HTTP server around the app: uvicorn, with a slow-client guard and a shutdown hook."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .settings import Settings

log = logging.getLogger("llmservice_backend")


class SlowClientGuard(HttpToolsProtocol):
    """uvicorn's httptools protocol with time limits on reading a request.

    uvicorn (0.54) bounds only the idle time between two requests of a keep-alive connection
    (``timeout_keep_alive``): a connection that sends half a request head, or a body one byte
    a minute, stays open for ever, and a few thousand of them hold a pod's file descriptors
    and memory. No uvicorn setting covers it, and the limits it has
    (``h11_max_incomplete_event_size``, ``limit_concurrency``) bound size and count, not time,
    so the protocol is extended here:

    - the request head must be complete HEADER_TIMEOUT_SECONDS after the connection opened
      (or, on a kept-alive connection, after the request's first byte);
    - the whole body must have arrived BODY_TIMEOUT_SECONDS after the head.

    Otherwise the client gets a 408 (unless its answer had begun) and the connection is
    closed; the app, if it was reading the body, sees the client leave. A subclass made by
    :func:`guarded_protocol` carries the limits (uvicorn builds one protocol per connection).
    """

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    on_drop: Callable[[str], None] | None = None

    _guard: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, "head")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._guard is None:
            self._arm(self.header_timeout, "head")

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        # Disarmed by on_message_complete, at once for a request without a body.
        self._arm(self.body_timeout, "body")

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _arm(self, seconds: float, part: str) -> None:
        self._guard = self.loop.call_later(seconds, self._expired, seconds, part)

    def _disarm(self) -> None:
        if self._guard is not None:
            self._guard.cancel()
            self._guard = None

    def _expired(self, seconds: float, part: str) -> None:
        self._guard = None
        if self.transport.is_closing():
            return
        cycle = self.cycle if part == "body" else None
        if cycle is None or not cycle.response_started:
            if cycle is not None:
                # The app's own answer, if it ever comes, must not follow ours.
                cycle.disconnected = True
                cycle.message_event.set()
            message = f"the request {part} did not arrive within {seconds:g} s"
            body = json.dumps({"error": message}).encode()
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
            )
        self.transport.close()
        if self.on_drop is not None:
            self.on_drop(part)


def guarded_protocol(
    settings: Settings, on_drop: Callable[[str], None] | None = None
) -> type[SlowClientGuard]:
    """A SlowClientGuard class with the settings' limits; on_drop(part) counts each drop."""
    return type(
        "SlowClientGuard",
        (SlowClientGuard,),
        {
            "header_timeout": settings.header_timeout_seconds,
            "body_timeout": settings.body_timeout_seconds,
            "on_drop": staticmethod(on_drop) if on_drop is not None else None,
        },
    )


def uvicorn_options(
    settings: Settings, on_drop: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """uvicorn.Config keywords for serving the backend (the tests serve it the same way)."""
    return {
        "http": guarded_protocol(settings, on_drop),
        "server_header": False,
        "proxy_headers": False,
        "access_log": settings.access_log,
        # On SIGTERM uvicorn stops accepting at once, lets running streams finish for this
        # long, then cancels them (the backend ends them itself just before: draining.py).
        "timeout_graceful_shutdown": math.ceil(settings.shutdown_grace_seconds),
        "timeout_keep_alive": settings.keep_alive_timeout_seconds,
    }


class BackendServer(uvicorn.Server):
    """uvicorn.Server that tells the app when the shutdown begins, not only when it ends."""

    def __init__(self, config: uvicorn.Config, on_shutdown: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_shutdown = on_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._on_shutdown()
        await super().shutdown(sockets)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (IPv6 when host is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=2048)
    sock.set_inheritable(True)
    return sock
