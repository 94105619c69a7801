"""The one HTTP client to Ollama, and reading its answers under deadlines.

One httpx transport for the whole process keeps connections to Ollama open between requests;
its pool is sized for every chat slot plus the probes and the model pull, so a request never
waits for a connection. Timeouts are ours, not httpx's: the first token of a CPU model can take
minutes, a gap in a running stream should not, and the whole request has a ceiling.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_aiohttp import AiohttpTransport

from .draining import Drain
from .errors import ApiError, timed_out, unreachable, upstream_error
from .settings import Settings, url_secrets

_HEADERS = {"content-type": "application/json", "accept-encoding": "identity"}


class Upstream:
    def __init__(
        self,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
        drain: Drain | None = None,
    ) -> None:
        self.settings = settings
        # Credentials in OLLAMA_URL are sent as a Basic Authorization header of our own:
        # left in the URL, httpx adds that header and aiohttp then refuses the URL's
        # credentials beside it (ValueError on every request).
        parsed = httpx.URL(settings.ollama_url)
        self.headers = dict(_HEADERS)
        if parsed.userinfo:
            token = base64.b64encode(f"{parsed.username}:{parsed.password}".encode()).decode()
            self.headers["authorization"] = f"Basic {token}"
            parsed = parsed.copy_with(username=None, password=None)
        self.url = str(parsed).rstrip("/")
        # What answers and logs may show: OLLAMA_URL without its user and password.
        self.display_url = settings.ollama_display_url
        self._secrets = url_secrets(settings.ollama_url)
        self.drain = drain if drain is not None else Drain()
        size = settings.max_concurrent_requests + 16
        limits = httpx.Limits(
            max_connections=size, max_keepalive_connections=size, keepalive_expiry=30
        )
        if transport is None:
            # aiohttp's C HTTP parser under httpx's API: about a quarter of the backend's own
            # per-request CPU time less than httpx's default pure-Python transport (measured).
            transport = AiohttpTransport(limits=limits, trust_env=False)
        timeout = httpx.Timeout(
            connect=settings.connect_timeout_seconds,
            read=None,
            write=settings.connect_timeout_seconds,
            pool=None,
        )
        # The chat requests go straight to the transport: the client's per-request work
        # (merging URLs, headers and cookies; redirect and auth handling) cost 0.16 ms of CPU
        # a request (measured) and none of it applies to a fixed local upstream.
        self._transport = transport
        self._extensions: dict[str, Any] = {"timeout": timeout.as_dict()}
        self._urls: dict[str, httpx.URL] = {}
        self.client = httpx.AsyncClient(
            base_url=self.url,
            transport=transport,
            timeout=timeout,
            headers=self.headers,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    def scrub(self, text: str) -> str:
        """text (say an HTTP library's error) without OLLAMA_URL's credentials."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def unreachable(self, exc: BaseException) -> ApiError:
        err = unreachable(self.display_url, exc)
        err.message = self.scrub(err.message)
        return err

    def describe(self, exc: BaseException) -> str:
        return self.scrub(_describe(exc))

    def _url(self, path: str) -> httpx.URL:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self.url + path)
        return url

    async def open(
        self, path: str, body: bytes, *, deadline: float, limit: float, what: str
    ) -> httpx.Response:
        """Send a POST and wait for the status line until deadline (loop time).

        On time-out the error reads "<what> after <limit> s"; limit is the number of seconds
        the deadline stands for.
        """
        request = httpx.Request(
            "POST", self._url(path), headers=self.headers, content=body, extensions=self._extensions
        )
        try:
            async with self.drain.timeout_at(deadline):
                return await self._transport.handle_async_request(request)
        except TimeoutError:
            raise timed_out(what, limit) from None
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None

    async def read_all(
        self, response: httpx.Response, *, deadline: float, limit: float, what: str
    ) -> bytes:
        try:
            async with self.drain.timeout_at(deadline):
                return await response.aread()
        except TimeoutError:
            raise timed_out(f"{what}: Ollama did not finish", limit) from None
        except httpx.HTTPError as exc:
            raise ApiError(
                502,
                f"{what}: the connection to Ollama broke: {self.describe(exc)}",
                code="upstream_error",
            ) from None
        finally:
            await response.aclose()

    async def check(self, response: httpx.Response, *, deadline: float, what: str) -> None:
        """Turn a non-200 answer into the matching ApiError (and close it)."""
        if response.status_code == 200:
            return
        limit = self.settings.request_timeout_seconds
        body = await self.read_all(response, deadline=deadline, limit=limit, what=what)
        raise upstream_error(response.status_code, body)

    async def get_json(self, path: str, limit: float) -> Any:
        return await self._call("GET", path, None, limit)

    async def post_json(self, path: str, payload: dict[str, Any], limit: float) -> Any:
        return await self._call("POST", path, json.dumps(payload).encode(), limit)

    async def _call(self, method: str, path: str, body: bytes | None, limit: float) -> Any:
        """A small request answered with JSON; our own deadline, so that a time-out is never
        confused with a refused or dropped connection whatever the transport reports."""
        try:
            async with asyncio.timeout(limit):
                response = await self.client.request(method, path, content=body)
        except TimeoutError:
            raise timed_out(f"{method} {path}: Ollama did not answer", limit) from None
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None
        if response.status_code != 200:
            raise upstream_error(response.status_code, response.content)
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                502, f"{method} {path}: Ollama sent invalid JSON", code="upstream_error"
            ) from None


class ChunkReader:
    """The body of a streaming answer, chunk by chunk, under first-token, idle and total limits."""

    def __init__(
        self,
        response: httpx.Response,
        upstream: Upstream,
        *,
        first_deadline: float,
        total_deadline: float,
    ) -> None:
        settings = upstream.settings
        self._upstream = upstream
        self._drain = upstream.drain
        self._chunks: AsyncIterator[bytes] = response.aiter_raw()
        self._first = settings.first_token_timeout_seconds
        self._idle = settings.stream_idle_timeout_seconds
        self._total = settings.request_timeout_seconds
        self._first_deadline = first_deadline
        self._deadline = total_deadline
        self._loop = asyncio.get_running_loop()
        self.started = False

    async def next(self) -> bytes | None:
        """The next chunk, or None at the end of the body; ApiError on a stall or a break."""
        if self.started:
            gap = self._idle
            at = self._loop.time() + gap
        else:
            gap = self._first
            at = self._first_deadline
        if at > self._deadline:
            at = self._deadline
        try:
            async with self._drain.timeout_at(at):
                chunk = await anext(self._chunks)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            if at == self._deadline:
                raise timed_out("the reply was not complete", self._total) from None
            if self.started:
                raise timed_out("Ollama stalled: no output", gap) from None
            raise timed_out("no first token from Ollama", gap) from None
        except httpx.HTTPError as exc:
            raise ApiError(
                502,
                f"the connection to Ollama broke mid-reply: {self._upstream.describe(exc)}",
                code="upstream_error",
            ) from None
        self.started = True
        return chunk


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
