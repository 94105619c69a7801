"""No credentials in answers or logs; /metrics on a port of its own, which no Service exposes."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

import httpx
import pytest
from backend_support import StartBackend, backend_process, free_port
from llmservice_backend.settings import Settings
from llmservice_backend.testing.fake_ollama import FakeOllama
from llmservice_backend.upstream import Upstream

MESSAGES = [{"role": "user", "content": "hello fake"}]
PASSWORD = "hunter22-secret"


def with_credentials(url: str) -> str:
    return url.replace("http://", f"http://admin:{PASSWORD}@", 1)


async def readyz_until(
    client: httpx.AsyncClient, until: Callable[[httpx.Response], bool]
) -> httpx.Response:
    for _ in range(1500):  # a bound, not a measure: at most 30 s
        response = await client.get("/readyz")
        if until(response):
            return response
        await asyncio.sleep(0.02)
    raise AssertionError(f"/readyz never matched; last: {response.text}")


async def test_unreachable_ollama_credentials_are_not_shown(
    start_backend: StartBackend, caplog: pytest.LogCaptureFixture
) -> None:
    backend = start_backend(ollama_url=f"http://admin:{PASSWORD}@127.0.0.1:9")
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
        ready = await readyz_until(client, lambda r: r.json()["phase"] == "waiting_for_ollama")
        chat = await client.post("/api/chat", json={"messages": MESSAGES, "stream": False})
        models = await client.get("/v1/models")
    assert ready.status_code == 503
    assert ready.json()["ollama"] == "http://***@127.0.0.1:9"
    assert ready.json()["detail"] == "waiting for Ollama at http://***@127.0.0.1:9"
    assert chat.status_code == 502
    assert chat.json()["error"].startswith("Ollama is unreachable at http://***@127.0.0.1:9: ")
    assert models.status_code == 502
    for text in (ready.text, chat.text, models.text, caplog.text):
        assert PASSWORD not in text
        assert "admin" not in text


async def test_credentials_still_reach_ollama_but_are_not_shown(
    start_backend: StartBackend, fake: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    backend = start_backend(ollama_url=with_credentials(fake.url))
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
        ready = await readyz_until(client, lambda r: r.status_code == 200)
        chat = await client.post("/api/chat", json={"messages": MESSAGES, "stream": False})
    assert chat.status_code == 200
    assert ready.json()["ollama"] == fake.url.replace("http://", "http://***@")
    assert PASSWORD not in ready.text
    assert PASSWORD not in caplog.text


async def test_credentials_go_in_a_header_not_the_url() -> None:
    upstream = Upstream(Settings(ollama_url=f"http://admin:{PASSWORD}@ollama:11434/"))
    try:
        assert upstream.url == "http://ollama:11434"
        expected = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        assert upstream.headers["authorization"] == f"Basic {expected}"
        assert (
            upstream.scrub(f"failed: http://admin:{PASSWORD}@ollama") == "failed: http://***@ollama"
        )
    finally:
        await upstream.aclose()


async def test_metrics_are_not_on_the_serving_port_when_separate(
    start_backend: StartBackend,
) -> None:
    backend = start_backend(manage_model=False, metrics_port=free_port())
    async with httpx.AsyncClient(base_url=backend.url) as client:
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200


def test_the_process_serves_metrics_on_its_own_port_and_logs_no_password(
    fake: FakeOllama,
) -> None:
    with backend_process(with_credentials(fake.url)) as backend:
        metrics_url = f"http://127.0.0.1:{backend.metrics_port}"
        assert httpx.get(backend.url + "/healthz").status_code == 200
        assert httpx.get(backend.url + "/metrics").status_code == 404
        scraped = httpx.get(metrics_url + "/metrics")
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        assert (
            'llmservice_backend_requests_total{method="GET",route="/healthz",status="200"}'
            in scraped.text
        )
        # The metrics port answers nothing else (no chat, no page).
        assert httpx.get(metrics_url + "/healthz").status_code == 404
        assert httpx.post(metrics_url + "/api/chat", json={}).status_code == 404
        assert httpx.post(metrics_url + "/metrics").status_code == 405
        readyz = httpx.get(backend.url + "/readyz")
        log = backend.log()
    assert f"metrics: port {backend.metrics_port}" in log
    assert "Ollama at " + fake.url.replace("http://", "http://***@") in log
    assert PASSWORD not in log
    assert PASSWORD not in readyz.text


def test_metrics_port_zero_serves_metrics_on_the_serving_port(fake: FakeOllama) -> None:
    with backend_process(fake.url, METRICS_PORT="0") as backend:
        assert httpx.get(backend.url + "/metrics").status_code == 200
        log = backend.log()
    assert "metrics: same port" in log
