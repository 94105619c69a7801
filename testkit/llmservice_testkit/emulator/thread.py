"""Host the server on its own event loop in a background thread.

Tests and the operator talk to it over HTTP like to any cluster; the thread keeps it
independent of pytest-asyncio's per-test loops and of kopf's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import kmock

from llmservice_testkit.emulator import kubeconfig
from llmservice_testkit.emulator.faults import Faults
from llmservice_testkit.emulator.server import ApiServer

T = TypeVar("T")


class ServerThread:
    """``with ServerThread(kubeconfig_path=...) as srv:`` — ``srv.url``, ``srv.api``."""

    def __init__(
        self,
        port: int = 0,
        kubeconfig_path: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the local API server binds to loopback only, not {host!r}")
        self._host = host
        self._port = port
        self._kubeconfig = Path(kubeconfig_path) if kubeconfig_path is not None else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.api: ApiServer | None = None
        self.url = ""

    def start(self) -> ServerThread:
        self._thread = threading.Thread(target=self._run, name="local-apiserver", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise RuntimeError("the local API server failed to start") from self._error
        if not self.url:
            raise RuntimeError("the local API server did not start within 30 s")
        if self._kubeconfig is not None:
            kubeconfig.write(self._kubeconfig, self.url)
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start() or swallowed at shutdown
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        api = ApiServer()
        async with api, kmock.Server(api, host=self._host, port=self._port or None) as server:
            self.api = api
            self.url = f"http://{self._host}:{server.port}"
            self._ready.set()
            await self._stopping.wait()
            api.cut_watches()
            await asyncio.sleep(0.05)

    def call(self, fn: Callable[[ApiServer], T]) -> T:
        """Run ``fn(api)`` on the server's loop (state is only touched from there)."""
        assert self._loop is not None
        assert self.api is not None
        api = self.api

        async def run() -> T:
            return fn(api)

        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(30)

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(30)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # Test controls, thread-safe.
    def cut_watches(self) -> None:
        self.call(lambda api: api.cut_watches())

    def expire_resource_versions(self) -> None:
        self.call(lambda api: api.expire_resource_versions())

    @property
    def faults(self) -> Faults:
        assert self.api is not None
        return self.api.faults

    @property
    def kubeconfig_path(self) -> Path | None:
        """The kubeconfig written at start, if one was asked for."""
        return self._kubeconfig
