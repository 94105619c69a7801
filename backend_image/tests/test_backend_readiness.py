"""/healthz, /readyz, and getting the model into Ollama at start (pull, warm, failures).

Readiness: Ready once the start-up pull and warm-up succeeded, then while Ollama answers and
has the model, loaded or not (an idle model unloaded by keep_alive keeps the pod Ready).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from backend_support import StartBackend
from llmservice_backend.app import create_app
from llmservice_backend.model_manager import is_permanent, model_in, normalize
from llmservice_backend.settings import PullPolicy, Settings
from llmservice_backend.testing.fake_ollama import FakeOllama
from llmservice_backend.testing.servers import ThreadedServer


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


async def test_a_missing_model_fails_for_good_with_ollamas_reason(
    start_backend: StartBackend, fake: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    fake.remove("tinyllama")
    fake.faults.pull_error = "pull model manifest: file does not exist"
    backend = start_backend(pull_retry_seconds=0.05)
    body = await poll_ready(backend.url, lambda _, b: b["phase"] == "failed")
    assert body["status"] == "not_ready"
    assert body["error"] == "pull model manifest: file does not exist"
    assert "for good" in body["detail"]
    assert body["next_retry_at"] is None  # the kubelet's restart retries, not this process
    await asyncio.sleep(0.3)
    assert fake.pulls == ["tinyllama"]  # a model that does not exist is not asked for again
    assert any("pull model manifest: file does not exist" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("faults", "transient_reason"),
    [
        (
            {
                "pull_error": 'pull model manifest: Get "https://registry.ollama.ai/v2/library/'
                'tinyllama/manifests/latest": dial tcp: lookup registry.ollama.ai: i/o timeout'
            },
            "i/o timeout",
        ),
        ({"pull_status": 500, "pull_error": "unexpected server error"}, "unexpected server"),
    ],
    ids=["registry-unreachable", "http-500"],
)
async def test_a_transient_pull_failure_is_retried_with_backoff(
    start_backend: StartBackend,
    fake: FakeOllama,
    faults: dict[str, Any],
    transient_reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.remove("tinyllama")
    for name, value in faults.items():
        setattr(fake.faults, name, value)
    fake.faults.pull_error_times = 2
    backend = start_backend(pull_retry_seconds=0.05, pull_attempts=4)
    body = await poll_ready(backend.url, lambda status, _: status == 200)
    assert body["loaded"] is True
    assert fake.pulls == ["tinyllama"] * 3
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 2
    assert all(transient_reason in m for m in retries), retries
    # The pause doubles: 0.05 s, then 0.1 s.
    assert "retrying in 0.05 s" in retries[0]
    assert "retrying in 0.1 s" in retries[1]


async def test_transient_failures_end_in_a_final_failure_after_the_attempts(
    fake: FakeOllama,
) -> None:
    fake.remove("tinyllama")
    fake.faults.pull_error = "read tcp 10.0.0.5:443: connection reset by peer"
    reasons: list[str] = []
    settings = Settings(ollama_url=fake.url, pull_retry_seconds=0.02, pull_attempts=3)
    app = create_app(settings, on_model_failure=reasons.append)
    with ThreadedServer(app) as server:
        body = await poll_ready(server.url, lambda _, b: "for good" in b["detail"])
        assert body["status"] == "not_ready"
        assert "after 3 attempts" in body["detail"]
        assert body["error"] == "read tcp 10.0.0.5:443: connection reset by peer"
    assert fake.pulls == ["tinyllama"] * 3
    assert reasons == ["read tcp 10.0.0.5:443: connection reset by peer"]


@pytest.mark.parametrize(
    ("reason", "status", "permanent"),
    [
        ("pull model manifest: file does not exist", None, True),
        ('pull model manifest: 404: {"errors":[{"code":"MANIFEST_UNKNOWN"}]}', None, True),
        ("invalid model name", None, True),
        ("anything", 400, True),
        ("anything", 404, True),
        ("unexpected server error", 500, False),
        ("Ollama answered HTTP 503", 503, False),
        ("dial tcp: lookup registry.ollama.ai: no such host", None, False),
        ("max retries exceeded: unexpected EOF", None, False),
    ],
)
def test_which_pull_failures_are_final(reason: str, status: int | None, permanent: bool) -> None:
    assert is_permanent(reason, status) is permanent


async def test_pull_policy_never_fails_for_good_without_pulling(
    fake: FakeOllama,
) -> None:
    fake.remove("tinyllama")
    reasons: list[str] = []
    settings = Settings(ollama_url=fake.url, model_pull_policy=PullPolicy.NEVER)
    app = create_app(settings, on_model_failure=reasons.append)
    with ThreadedServer(app) as server:
        body = await poll_ready(server.url, lambda _, b: b["phase"] == "failed")
    assert "MODEL_PULL_POLICY is Never" in body["error"]
    assert fake.pulls == []
    assert len(reasons) == 1
    assert "MODEL_PULL_POLICY is Never" in reasons[0]


async def test_pull_policy_always_pulls_a_present_model_once(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(model_pull_policy=PullPolicy.ALWAYS)
    await poll_ready(backend.url, lambda status, _: status == 200)
    assert fake.pulls == ["tinyllama"]


async def test_an_idle_model_unloaded_by_keep_alive_keeps_the_pod_ready(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(readiness_cache_seconds=0, model_keep_alive="5m")
    await poll_ready(backend.url, lambda status, _: status == 200)
    warmups = fake.requests.count(("POST", "/api/generate"))
    fake.unload("tinyllama")  # what Ollama does when keep_alive runs out
    async with httpx.AsyncClient(base_url=backend.url) as client:
        answers = [await client.get("/readyz") for _ in range(5)]
    assert {a.status_code for a in answers} == {200}
    body = answers[-1].json()
    assert body["status"] == "ready"
    assert body["loaded"] is False
    assert "on demand" in body["detail"]
    assert backend.metric("llmservice_backend_model_loaded") == 0.0
    assert backend.metric("llmservice_backend_model_ready") == 1.0
    # Not loaded again by the backend: with keep_alive 5m that is Ollama's choice to make.
    assert fake.requests.count(("POST", "/api/generate")) == warmups
    assert "tinyllama:latest" not in fake.loaded


async def test_keep_alive_forever_loads_an_unloaded_model_again_while_ready(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(readiness_cache_seconds=0, model_keep_alive="-1")
    await poll_ready(backend.url, lambda status, _: status == 200)
    warmups = fake.requests.count(("POST", "/api/generate"))
    fake.unload("tinyllama")  # Ollama restarted, say
    async with httpx.AsyncClient(base_url=backend.url) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["loaded"] is False
    body = await poll_ready(backend.url, lambda status, b: status == 200 and b["loaded"])
    assert body["status"] == "ready"
    assert fake.requests.count(("POST", "/api/generate")) == warmups + 1


async def test_a_model_gone_from_ollama_is_not_ready_and_is_pulled_again(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(readiness_cache_seconds=0)
    await poll_ready(backend.url, lambda status, _: status == 200)
    assert fake.pulls == []
    fake.remove("tinyllama")
    async with httpx.AsyncClient(base_url=backend.url) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert "no longer in Ollama" in response.json()["detail"]
    body = await poll_ready(backend.url, lambda status, _: status == 200)
    assert body["loaded"] is True
    assert fake.pulls == ["tinyllama"]


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
