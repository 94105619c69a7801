"""/healthz, /readyz, and getting the model into Ollama at start (pull, warm, failures)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from backend_support import StartBackend
from llmservice_backend.model_manager import model_in, normalize
from llmservice_backend.settings import PullPolicy
from llmservice_backend.testing.fake_ollama import FakeOllama


async def poll_ready(url: str, until: Any, within: float = 15.0) -> dict[str, Any]:
    """GET /readyz until until(status, body) holds; return that body."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    async with httpx.AsyncClient(base_url=url) as client:
        while True:
            response = await client.get("/readyz")
            body: dict[str, Any] = response.json()
            if until(response.status_code, body):
                return body
            assert loop.time() < end, f"/readyz never matched; last: {response.status_code} {body}"
            await asyncio.sleep(0.02)


async def test_healthz_needs_no_ollama(start_backend: StartBackend) -> None:
    backend = start_backend(ollama_url="http://127.0.0.1:9")
    async with httpx.AsyncClient(base_url=backend.url) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_present_and_loaded(start_backend: StartBackend, fake: FakeOllama) -> None:
    backend = start_backend()
    body = await poll_ready(backend.url, lambda status, _: status == 200)
    assert body["status"] == "ready"
    assert body["loaded"] is True
    assert body["model"] == "tinyllama"
    # Warmed with keep_alive so that Ollama keeps it loaded.
    assert ("POST", "/api/generate") in fake.requests
    assert fake.pulls == []


async def test_waiting_for_ollama_is_not_ready(start_backend: StartBackend) -> None:
    backend = start_backend(ollama_url="http://127.0.0.1:9")
    body = await poll_ready(backend.url, lambda status, b: b["phase"] == "waiting_for_ollama")
    assert body["status"] == "not_ready"
    assert "http://127.0.0.1:9" in body["detail"]


async def test_missing_model_is_pulled_with_progress_then_warmed(
    start_backend: StartBackend, fake: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llmservice_backend")
    fake.remove("tinyllama")
    fake.faults.pull_step_seconds = 0.15
    fake.faults.pull_steps = 6
    backend = start_backend()
    pulling = await poll_ready(
        backend.url,
        lambda status, b: (
            status == 503 and b["phase"] == "pulling" and (b["progress"] or {}).get("completed")
        ),
    )
    progress = pulling["progress"]
    assert progress["total"] == 637_700_138
    assert 0 < progress["percent"] <= 100
    assert progress["status"].startswith("pulling ")
    ready = await poll_ready(backend.url, lambda status, _: status == 200)
    assert ready["loaded"] is True
    assert fake.pulls == ["tinyllama"]
    assert "tinyllama:latest" in fake.models
    assert fake.loaded.keys() == {"tinyllama:latest"}
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("pull tinyllama: pulling ") and "%" in m for m in messages), messages
    assert "pull tinyllama: success" in messages
    ratio = backend.metric("llmservice_backend_model_pull_completed_ratio")
    assert ratio == 1.0


async def test_failed_pull_is_reported_with_ollamas_reason(
    start_backend: StartBackend, fake: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    fake.remove("tinyllama")
    fake.faults.pull_error = "pull model manifest: file does not exist"
    backend = start_backend()
    body = await poll_ready(backend.url, lambda _, b: b["phase"] == "failed")
    assert body["status"] == "not_ready"
    assert body["error"] == "pull model manifest: file does not exist"
    assert body["next_retry_at"] is not None
    assert any("pull model manifest: file does not exist" in r.getMessage() for r in caplog.records)


async def test_pull_policy_never_does_not_pull(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    fake.remove("tinyllama")
    backend = start_backend(model_pull_policy=PullPolicy.NEVER)
    body = await poll_ready(backend.url, lambda _, b: b["phase"] == "failed")
    assert "MODEL_PULL_POLICY is Never" in body["error"]
    assert fake.pulls == []


async def test_pull_policy_always_pulls_a_present_model_once(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(model_pull_policy=PullPolicy.ALWAYS)
    await poll_ready(backend.url, lambda status, _: status == 200)
    assert fake.pulls == ["tinyllama"]


async def test_an_unloaded_model_is_not_ready_and_gets_loaded_again(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(readiness_cache_seconds=0)
    await poll_ready(backend.url, lambda status, _: status == 200)
    warmups = fake.requests.count(("POST", "/api/generate"))
    fake.unload("tinyllama")
    async with httpx.AsyncClient(base_url=backend.url) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["loaded"] is False
    await poll_ready(backend.url, lambda status, _: status == 200)
    assert fake.requests.count(("POST", "/api/generate")) == warmups + 1


async def test_readiness_is_cached(start_backend: StartBackend, fake: FakeOllama) -> None:
    backend = start_backend(readiness_cache_seconds=60)
    await poll_ready(backend.url, lambda status, _: status == 200)
    probes = fake.requests.count(("GET", "/api/ps"))
    async with httpx.AsyncClient(base_url=backend.url) as client:
        answers = await asyncio.gather(*(client.get("/readyz") for _ in range(20)))
    assert {a.status_code for a in answers} == {200}
    assert fake.requests.count(("GET", "/api/ps")) == probes


async def test_ollama_gone_after_start_is_not_ready(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(readiness_cache_seconds=0)
    await poll_ready(backend.url, lambda status, _: status == 200)
    fake.stop()
    body = await poll_ready(backend.url, lambda status, _: status == 503)
    assert body["error"].startswith("Ollama is unreachable at")


@pytest.mark.parametrize(
    ("listed", "wanted", "found"),
    [
        ("tinyllama:latest", "tinyllama", True),
        ("tinyllama:latest", "tinyllama:latest", True),
        ("llama3.2:1b", "llama3.2", False),
        ("registry.example/ns/m:v1", "registry.example/ns/m:v1", True),
        ("registry.example:5000/ns/m:latest", "registry.example:5000/ns/m", True),
    ],
)
def test_model_names_match_like_ollamas(listed: str, wanted: str, found: bool) -> None:
    assert model_in({"models": [{"name": listed}]}, wanted) is found


def test_normalize() -> None:
    assert normalize("tinyllama") == "tinyllama:latest"
    assert normalize("host:5000/tinyllama") == "host:5000/tinyllama:latest"
