"""/metrics after traffic, and the chat page's files (served when present, a 404 when not)."""

from __future__ import annotations

from pathlib import Path

import httpx
from backend_support import RunningBackend, StartBackend
from llmservice_backend.metrics import route_label
from llmservice_backend.testing.fake_ollama import FakeOllama

MESSAGES = [{"role": "user", "content": "hello fake"}]


async def test_metrics_after_traffic(backend: RunningBackend, fake: FakeOllama) -> None:
    async with httpx.AsyncClient(base_url=backend.url) as client:
        await client.post("/api/chat", json={"messages": MESSAGES})
        await client.post("/api/chat", json={"messages": MESSAGES, "stream": False})
        await client.post(
            "/v1/chat/completions",
            json={"model": "tinyllama", "messages": MESSAGES, "stream": True},
        )
        await client.post("/v1/chat/completions", json={"model": "x", "messages": "bad"})
        await client.get("/no/such/path")
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    m = backend.metric
    assert m('llmservice_backend_requests_total{method="POST",route="/api/chat",status="200"}') == 2
    assert (
        m(
            'llmservice_backend_requests_total{method="POST",route="/v1/chat/completions",status="200"}'
        )
        == 1
    )
    assert (
        m(
            'llmservice_backend_requests_total{method="POST",route="/v1/chat/completions",status="400"}'
        )
        == 1
    )
    assert m('llmservice_backend_requests_total{method="GET",route="other",status="404"}') == 1
    assert m('llmservice_backend_request_duration_seconds_count{route="/api/chat"}') == 2
    # Time to first token: one per streaming chat.
    assert m('llmservice_backend_time_to_first_token_seconds_count{route="/api/chat"}') == 1
    assert (
        m('llmservice_backend_time_to_first_token_seconds_count{route="/v1/chat/completions"}') == 1
    )
    # Tokens per second and token counts, from Ollama's final statistics.
    assert m('llmservice_backend_tokens_per_second_count{route="/api/chat"}') == 2
    assert m('llmservice_backend_tokens_total{kind="completion"}') == 12
    assert m("llmservice_backend_upstream_in_flight_requests") == 0
    assert m("llmservice_backend_queue_depth") == 0
    text = response.text
    assert "llmservice_backend_model_ready" in text
    assert "process_cpu_seconds_total" in text


def test_route_labels_stay_few() -> None:
    assert route_label("/api/chat") == "/api/chat"
    assert route_label("/static/app.js") == "/static"
    assert route_label("/v1/models/tinyllama") == "/v1/models/{model}"
    assert route_label("/wp-admin/x.php") == "other"


async def test_page_and_static_files_are_served(
    start_backend: StartBackend, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>chat</title>")
    (tmp_path / "app.js").write_text("console.log('hi')")
    backend = start_backend(static_dir=tmp_path, manage_model=False, api_key="a-key-for-the-api")
    async with httpx.AsyncClient(base_url=backend.url) as client:
        page = await client.get("/")
        assert page.status_code == 200  # no API key needed for the page
        assert page.headers["content-type"].startswith("text/html")
        assert "<title>chat</title>" in page.text
        script = await client.get("/static/app.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert (await client.get("/static/../app.py")).status_code == 404
        assert (await client.get("/static/nothing.css")).status_code == 404


async def test_without_page_files_it_is_a_json_404(
    start_backend: StartBackend, tmp_path: Path
) -> None:
    backend = start_backend(static_dir=tmp_path / "absent", manage_model=False)
    async with httpx.AsyncClient(base_url=backend.url) as client:
        page = await client.get("/")
        assert page.status_code == 404
        assert page.json() == {"error": "the chat page is not installed in this image"}
        asset = await client.get("/static/app.js")
        assert asset.status_code == 404
        assert asset.json() == {"error": "not found: /static/app.js"}
