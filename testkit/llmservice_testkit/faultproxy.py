"""A proxy in front of an API server that fails some of the requests passing through it.

Only the client pointed at the proxy (the operator under test) meets the faults; the
control plane's own components and the test's client talk to the API server directly, so
the faults say something about the operator alone. It works in front of the test kit's
emulator and in front of a real kube-apiserver alike (it forwards the client's bearer
token, and speaks TLS to the server when given a CA).

What it does to a request, chosen per request with a seeded random number:

- ``500``, ``429`` (with ``Retry-After``) or ``409`` (writes only): answered at once with
  a Kubernetes ``Status`` body, the request never reaching the server;
- ``hang``: held ``hang_seconds`` and then the connection is closed with no answer, as a
  server or network that stops answering does (the client's timeout has to notice);
- watches are never failed at the start but cut after ``watch_seconds``: the connection
  closed mid-stream, as a load balancer or a restarted server does.

Every request is recorded (:attr:`FaultProxy.seen`), so a test can count what the client
wrote, for instance none at all once everything has converged (:meth:`FaultProxy.writes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import yaml
from aiohttp import web

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BODY_KEPT = 2000  # bytes of a write's body kept in the record
# Headers about one connection, not the message: never forwarded either way. (Bodies pass
# as they are, compressed or not, with their Content-Encoding.)
HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
        "host",
    }
)
_REASONS = {409: "Conflict", 429: "TooManyRequests", 500: "InternalError"}


@dataclass
class FaultPlan:
    """How often and how requests fail; ``fraction`` of the requests that are not watches
    meet one of ``kinds`` (equally likely)."""

    fraction: float = 0.15
    kinds: tuple[str, ...] = ("500", "429", "409", "hang")
    hang_seconds: float = 8.0
    watch_seconds: float | None = 5.0  # None: watches are never cut
    seed: int = 0


@dataclass
class Seen:
    """One request that reached the proxy."""

    method: str
    path: str
    fault: str | None  # None: forwarded and answered by the server
    status: int | None  # the status the client got, None when it got none
    at: float = field(default_factory=time.monotonic)
    body: bytes = b""  # of a forwarded write, cut short: says what an unexpected write changed

    @property
    def write(self) -> bool:
        return self.method in WRITE_METHODS and self.status is not None and self.status < 400

    def __str__(self) -> str:
        text = f"{self.method} {self.path} -> {self.status} ({self.fault or 'forwarded'})"
        if self.body:
            text += " " + self.body.decode("utf-8", "replace")
        return text


class FaultProxy:
    """Start it (a context manager), point the client at :attr:`url`, read what it saw."""

    def __init__(
        self, upstream: str, plan: FaultPlan | None = None, ca_file: Path | None = None
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.plan = plan or FaultPlan()
        self._ssl: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca_file)) if ca_file else False
        )
        self._random = random.Random(self.plan.seed)
        self._lock = threading.Lock()
        self.seen: list[Seen] = []
        self.watches_cut = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._calm = threading.Event()
        self.port = 0

    # -- control --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def calm(self) -> None:
        """No more faults and no more cuts from now on (open watches keep running)."""
        self._calm.set()

    def mark(self) -> int:
        with self._lock:
            return len(self.seen)

    def writes(self, since: int = 0) -> list[str]:
        """The writes the server accepted since ``since`` (a :meth:`mark`)."""
        with self._lock:
            return [str(s) for s in self.seen[since:] if s.write]

    def faults(self) -> Counter[str]:
        """How many requests met each fault (and how many watches were cut)."""
        with self._lock:
            counts = Counter(s.fault for s in self.seen if s.fault)
        counts["watch cut"] = self.watches_cut
        return counts

    def kubeconfig(self, source: Path, target: Path) -> Path:
        """``source`` (a kubeconfig with a token) pointed at the proxy, written to
        ``target``: the client keeps its identity, the proxy speaks TLS to the server."""
        config = yaml.safe_load(source.read_text())
        for entry in config.get("clusters") or ():
            entry["cluster"] = {"server": self.url}
        target.write_text(yaml.safe_dump(config))
        return target

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        started.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(15)
        self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _serve(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = int(server.sockets[0].getsockname()[1])

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # -- requests -------------------------------------------------------------------------

    def _record(
        self, method: str, path: str, fault: str | None, status: int | None, body: bytes = b""
    ) -> None:
        with self._lock:
            self.seen.append(Seen(method, path, fault, status, body=body[:BODY_KEPT]))

    def _choose(self, method: str, watch: bool) -> str | None:
        if watch or self._calm.is_set():
            return None
        with self._lock:
            if self._random.random() >= self.plan.fraction:
                return None
            kind = self._random.choice(self.plan.kinds)
        if kind == "409" and method not in WRITE_METHODS:
            return "500"  # a read cannot conflict
        return kind

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        watch = request.query.get("watch") in ("true", "1")
        fault = self._choose(method, watch)
        if fault == "hang":
            self._record(method, path, fault, None)  # now: the client may give up first
            await asyncio.sleep(self.plan.hang_seconds)
            if request.transport is not None:
                request.transport.close()  # the client gets no answer at all
            return web.Response(status=504)
        if fault is not None:
            status = int(fault)
            self._record(method, path, fault, status)
            return _status_response(status, f"injected {fault} for {method} {path}")
        return await self._forward(request, watch)

    async def _forward(self, request: web.Request, watch: bool) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        body = await request.read()
        timeout = aiohttp.ClientTimeout(total=None if watch else 120)
        try:
            upstream = await self._session.request(
                request.method,
                self.upstream + request.path_qs,
                headers=headers,
                data=body or None,
                ssl=self._ssl,
                timeout=timeout,
                allow_redirects=False,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The server itself is down (restarted under test): what a client would see
            # from a load balancer in front of it.
            self._record(request.method, request.path, None, 503)
            return _status_response(503, f"the API server is unreachable: {exc}")
        async with upstream:
            answer = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
            if not watch:
                data = await upstream.read()
                kept = body if request.method in WRITE_METHODS else b""
                self._record(request.method, request.path, None, upstream.status, kept)
                return web.Response(status=upstream.status, body=data, headers=answer)
            self._record(request.method, request.path, None, upstream.status)
            response = web.StreamResponse(status=upstream.status, headers=answer)
            await response.prepare(request)
            cut = self.plan.watch_seconds
            deadline = None if cut is None else time.monotonic() + cut
            while True:
                if self._calm.is_set():
                    deadline = None  # never cut now: wait for the server's own events
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    with self._lock:
                        self.watches_cut += 1
                    if request.transport is not None:
                        request.transport.close()
                    return response
                try:
                    chunk = await asyncio.wait_for(
                        upstream.content.readany(),
                        timeout=None if remaining is None else max(remaining, 0.05),
                    )
                except TimeoutError:
                    continue
                except aiohttp.ClientError:
                    break
                if not chunk:
                    break
                try:
                    await response.write(chunk)
                except ConnectionError:
                    return response  # the client went away (killed, say): nothing to finish
            with contextlib.suppress(ConnectionError):
                await response.write_eof()
            return response


def _status_response(code: int, message: str) -> web.Response:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": _REASONS.get(code, "ServiceUnavailable"),
        "code": code,
    }
    headers = {}
    if code == 429:
        headers["Retry-After"] = "1"
        body["details"] = {"retryAfterSeconds": 1}
    return web.json_response(body, status=code, headers=headers)
