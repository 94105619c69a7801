"""Noticing a client that left, and a streaming response that stops its upstream when it does.

A chat on a CPU model can run for minutes; a client that gives up must not leave Ollama
generating for nobody while it holds one of the few slots. Both helpers watch the ASGI
`receive` channel for `http.disconnect` and cancel the work in progress, which closes the
upstream connection (httpx drops a connection whose body was not read to the end).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TypeVar

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before its answer was ready."""


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def guarded(receive: Receive, work: Awaitable[T]) -> T:
    """Await work; if the client disconnects first, cancel the work and raise ClientGone."""
    job = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_wait_for_disconnect(receive))
    try:
        done, _ = await asyncio.wait((job, watcher), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        job.cancel()
        watcher.cancel()
        raise
    if job in done:
        watcher.cancel()
        return job.result()
    job.cancel()
    await asyncio.gather(job, return_exceptions=True)
    raise ClientGone


class ProxyStream(Response):
    """Sends chunks from an async generator; stops it when the client disconnects.

    on_close(client_gone) runs exactly once, after the generator is closed, whatever happened.
    """

    def __init__(
        self,
        chunks: AsyncGenerator[bytes, None],
        media_type: str,
        on_close: Callable[[bool], None],
    ) -> None:
        self.chunks = chunks
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self._on_close = on_close
        self.raw_headers = [
            (b"content-type", media_type.encode()),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        gone = False

        async def watch() -> None:
            nonlocal gone
            await _wait_for_disconnect(receive)
            gone = True
            task.cancel()

        watcher = asyncio.ensure_future(watch())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for chunk in self.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            watcher.cancel()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not gone:
                raise
            task.uncancel()
        finally:
            watcher.cancel()
            try:
                await self.chunks.aclose()
            finally:
                self._on_close(gone)
