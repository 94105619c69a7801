"""Slots, the queue, 429, disconnects that cancel the upstream request, and the API key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import ollama
import openai
import pytest
from backend_support import RunningBackend, StartBackend
from llmservice_backend.testing.fake_ollama import FakeOllama

MESSAGES = [{"role": "user", "content": "hello fake"}]
LONG = {"messages": MESSAGES}  # with fake.reply_tokens/token_rate set, this takes a while


async def first_line(response: httpx.Response) -> AsyncIterator[str]:
    """Read the first line and return the line iterator, which the caller must keep.

    Dropping an unfinished httpx line iterator closes the response, which is a disconnect.
    """
    lines = response.aiter_lines()
    async for line in lines:
        if line.strip():
            json.loads(line)
            return lines
    raise AssertionError("the stream ended without a line")


async def wait_until(predicate: object, within: float = 10.0) -> None:
    assert callable(predicate)
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not predicate():
        assert loop.time() < end, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_overload_is_429_with_retry_after(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    fake.reply_tokens, fake.token_rate = 200, 20.0
    backend = start_backend(max_concurrent_requests=1, max_queued_requests=1)
    limiter = backend.backend.limiter
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
        async with client.stream("POST", "/api/chat", json=LONG) as running:
            _kept = await first_line(running)
            queued = asyncio.create_task(client.post("/api/chat", json=LONG))
            await wait_until(lambda: limiter.waiting == 1)
            rejected = await client.post("/api/chat", json=LONG)
            assert rejected.status_code == 429
            assert int(rejected.headers["retry-after"]) >= 1
            assert "too many requests" in rejected.json()["error"]
            rejected_openai = await client.post(
                "/v1/chat/completions", json={"model": "tinyllama", "messages": MESSAGES}
            )
            assert rejected_openai.status_code == 429
            assert rejected_openai.json()["error"]["type"] == "rate_limit_error"
            queued.cancel()
        await asyncio.gather(queued, return_exceptions=True)
    # Only the running request reached Ollama; the rejected ones never did.
    assert len(fake.chats) <= 2
    assert backend.metric('llmservice_backend_rejected_requests_total{reason="queue_full"}') == 2


async def test_queued_requests_run_when_a_slot_frees(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(max_concurrent_requests=2, max_queued_requests=10)
    fake.token_rate = 50.0
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
        answers = await asyncio.gather(
            *(
                client.post("/api/chat", json={"messages": MESSAGES, "stream": False})
                for _ in range(8)
            )
        )
    assert [a.status_code for a in answers] == [200] * 8
    assert backend.backend.limiter.active == 0
    assert backend.backend.limiter.waiting == 0


async def test_disconnect_mid_stream_cancels_the_upstream(
    backend: RunningBackend, fake: FakeOllama
) -> None:
    fake.reply_tokens, fake.token_rate = 500, 20.0
    async with (
        httpx.AsyncClient(base_url=backend.url, timeout=30) as client,
        client.stream("POST", "/api/chat", json=LONG) as response,
    ):
        await first_line(response)
    # Leaving the block closed the connection: the fake must see its client go away.
    await fake.wait_for(lambda: fake.chats[-1].outcome == "cancelled")
    assert fake.chats[-1].tokens_sent < 500
    await wait_until(lambda: backend.backend.limiter.active == 0)
    assert backend.metric("llmservice_backend_client_disconnects_total") == 1


async def test_disconnect_of_an_openai_stream_cancels_the_upstream(
    backend: RunningBackend, fake: FakeOllama
) -> None:
    fake.reply_tokens, fake.token_rate = 500, 20.0
    body = {"model": "tinyllama", "messages": MESSAGES, "stream": True}
    async with (
        httpx.AsyncClient(base_url=backend.url, timeout=30) as client,
        client.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                break
    await fake.wait_for(lambda: fake.chats[-1].outcome == "cancelled")


async def test_disconnect_while_waiting_for_a_non_streaming_reply(
    backend: RunningBackend, fake: FakeOllama
) -> None:
    fake.reply_tokens, fake.token_rate = 500, 20.0
    async with httpx.AsyncClient(base_url=backend.url, timeout=0.5) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/api/chat", json={"messages": MESSAGES, "stream": False})
    await fake.wait_for(lambda: fake.chats[-1].outcome == "cancelled")
    await wait_until(lambda: backend.backend.limiter.active == 0)


async def test_disconnect_while_queued_leaves_the_queue(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    fake.reply_tokens, fake.token_rate = 200, 20.0
    backend = start_backend(max_concurrent_requests=1, max_queued_requests=5)
    limiter = backend.backend.limiter
    async with (
        httpx.AsyncClient(base_url=backend.url, timeout=30) as client,
        client.stream("POST", "/api/chat", json=LONG) as running,
    ):
        _kept = await first_line(running)
        async with httpx.AsyncClient(base_url=backend.url, timeout=30) as other:
            waiting = asyncio.create_task(other.post("/api/chat", json=LONG))
            await wait_until(lambda: limiter.waiting == 1)
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
        await wait_until(lambda: limiter.waiting == 0)
    assert len(fake.chats) == 1  # the abandoned request never reached Ollama


# --- API key -------------------------------------------------------------------------------

KEY = "s3cret-key-for-tests"


async def test_api_key_guards_the_chat_and_model_routes(start_backend: StartBackend) -> None:
    backend = start_backend(api_key=KEY)
    async with httpx.AsyncClient(base_url=backend.url) as client:
        for method, path in [
            ("POST", "/api/chat"),
            ("POST", "/v1/chat/completions"),
            ("GET", "/v1/models"),
            ("GET", "/api/tags"),
        ]:
            for headers in ({}, {"authorization": "Bearer wrong-key"}, {"authorization": KEY}):
                response = await client.request(method, path, json={}, headers=headers)
                assert response.status_code == 401, (path, headers)
                assert response.headers["www-authenticate"] == "Bearer"
                error = response.json()["error"]
                text = error["message"] if path.startswith("/v1/") else error
                assert "API key" in text
        good = {"authorization": f"Bearer {KEY}"}
        chat = await client.post(
            "/api/chat", json={"messages": MESSAGES, "stream": False}, headers=good
        )
        assert chat.status_code == 200
        # Probes, metrics and the page stay open.
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.get("/readyz")).status_code in (200, 503)


def test_api_key_with_the_official_clients(start_backend: StartBackend) -> None:
    backend = start_backend(api_key=KEY)
    good = openai.OpenAI(base_url=backend.url + "/v1", api_key=KEY, max_retries=0)
    assert good.chat.completions.create(model="tinyllama", messages=MESSAGES).choices  # type: ignore[arg-type]
    bad = openai.OpenAI(base_url=backend.url + "/v1", api_key="nope-nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    answer = ollama.Client(host=backend.url, headers={"Authorization": f"Bearer {KEY}"}).chat(
        model="tinyllama", messages=MESSAGES
    )
    assert answer.message.content == "You said: hello fake"
    with pytest.raises(ollama.ResponseError) as denied:
        ollama.Client(host=backend.url).chat(model="tinyllama", messages=MESSAGES)
    assert denied.value.status_code == 401


async def test_without_a_key_no_header_is_needed(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/chat", json={"messages": MESSAGES, "stream": False})
    assert response.status_code == 200


async def test_a_request_that_waits_too_long_in_the_queue_is_503(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    fake.reply_tokens, fake.token_rate = 200, 20.0
    backend = start_backend(
        max_concurrent_requests=1, max_queued_requests=4, queue_timeout_seconds=0.3
    )
    async with (
        httpx.AsyncClient(base_url=backend.url, timeout=30) as client,
        client.stream("POST", "/api/chat", json=LONG) as running,
    ):
        _kept = await first_line(running)
        late = await client.post("/api/chat", json=LONG)
    assert late.status_code == 503
    assert late.headers["retry-after"]
    assert late.json() == {"error": "no free slot after waiting 0.3 s in the queue"}
    assert backend.metric('llmservice_backend_rejected_requests_total{reason="queue_timeout"}') == 1


async def test_without_a_queue_the_second_request_is_429(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    fake.reply_tokens, fake.token_rate = 200, 20.0
    backend = start_backend(max_concurrent_requests=1, max_queued_requests=0)
    async with (
        httpx.AsyncClient(base_url=backend.url, timeout=30) as client,
        client.stream("POST", "/api/chat", json=LONG) as running,
    ):
        _kept = await first_line(running)
        second = await client.post("/api/chat", json=LONG)
    assert second.status_code == 429
