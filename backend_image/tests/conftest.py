"""Fixtures for the backend tests: a fake Ollama and backends in front of it, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from backend_support import RunningBackend, StartBackend
from llmservice_backend.app import create_app
from llmservice_backend.server import uvicorn_options
from llmservice_backend.settings import Settings
from llmservice_backend.testing.fake_ollama import FakeOllama
from llmservice_backend.testing.servers import ThreadedServer


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama() as f:
        yield f


@pytest.fixture
def start_backend(fake: FakeOllama) -> Iterator[StartBackend]:
    """Start a backend in front of `fake` with settings overridden by keyword.

    It is served as in production (the slow-client guard and uvicorn options included), with
    /metrics on the one port unless a test sets metrics_port.
    """
    servers: list[ThreadedServer] = []

    def start(
        *, manage_model: bool = True, static_dir: Path | None = None, **overrides: Any
    ) -> RunningBackend:
        settings = Settings(**{"ollama_url": fake.url, "metrics_port": 0, **overrides})
        app = create_app(settings, static_dir=static_dir, manage_model=manage_model)
        backend = app.state.backend
        options = uvicorn_options(settings, backend.metrics.slow_clients_dropped_by)
        server = ThreadedServer(app, **options).start()
        servers.append(server)
        return RunningBackend(server.url, backend, server)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def backend(start_backend: StartBackend) -> RunningBackend:
    return start_backend()


@pytest.fixture
async def client(backend: RunningBackend) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as c:
        yield c
