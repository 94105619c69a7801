"""SIGTERM on the real server process: stop accepting, let running streams finish in the grace,
answer queued requests at once, and end what the grace cuts with an error in its protocol."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
import pytest
from backend_support import BackendProcess, backend_process
from llmservice_backend.testing.fake_ollama import FakeOllama

pytestmark = pytest.mark.slow

MESSAGES = [{"role": "user", "content": "hello fake"}]


@pytest.fixture
def serve(fake: FakeOllama) -> Iterator[Callable[..., BackendProcess]]:
    with ExitStack() as stack:

        def start(grace: float, **env: str) -> BackendProcess:
            return stack.enter_context(
                backend_process(fake.url, SHUTDOWN_GRACE_SECONDS=str(grace), **env)
            )

        yield start


Serve = Callable[..., BackendProcess]


def test_sigterm_lets_a_running_stream_finish(serve: Serve, fake: FakeOllama) -> None:
    fake.reply_tokens, fake.token_rate = 30, 15.0  # about 2 s of streaming
    backend = serve(grace=20)
    proc, url = backend.proc, backend.url
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", url + "/api/chat", json={"messages": MESSAGES}) as response,
    ):
        lines = response.iter_lines()
        first = next(lines)
        assert json.loads(first)["done"] is False
        proc.send_signal(signal.SIGTERM)
        # New connections are refused while the stream goes on.
        end = time.monotonic() + 10
        while True:
            try:
                httpx.get(url + "/healthz", timeout=1)
            except httpx.ConnectError:
                break
            assert time.monotonic() < end, "still accepting connections after SIGTERM"
            time.sleep(0.05)
        rest = [json.loads(line) for line in lines if line.strip()]
    assert rest[-1]["done"] is True
    assert rest[-1]["eval_count"] == 30
    assert len(rest) == 30  # 29 more tokens and the final statistics
    assert proc.wait(timeout=20) == 0
    assert fake.chats[-1].outcome == "completed"


def test_a_stream_longer_than_the_grace_ends_with_an_error_line(
    serve: Serve, fake: FakeOllama
) -> None:
    fake.reply_tokens, fake.token_rate = 1000, 20.0  # 50 s, far past the grace
    backend = serve(grace=2)
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", backend.url + "/api/chat", json={"messages": MESSAGES}) as response,
    ):
        lines = response.iter_lines()
        assert json.loads(next(lines))["done"] is False
        backend.proc.send_signal(signal.SIGTERM)
        # The body ends properly (no protocol error), its last line an Ollama error line.
        rest = [json.loads(line) for line in lines if line.strip()]
    assert all(line["done"] is False for line in rest[:-1])
    assert rest[-1] == {
        "error": "the reply was cut off: this server is shutting down and its grace period "
        "of 2 s is over; retry the request"
    }
    assert backend.proc.wait(timeout=20) == 0
    # The upstream request was closed with the stream.
    assert fake.chats[-1].outcome == "cancelled"
    assert "Exception in ASGI application" not in backend.log()


def test_an_openai_stream_cut_by_the_grace_ends_with_an_error_event(
    serve: Serve, fake: FakeOllama
) -> None:
    fake.reply_tokens, fake.token_rate = 1000, 20.0
    backend = serve(grace=2)
    body = {"model": "tinyllama", "messages": MESSAGES, "stream": True}
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", backend.url + "/v1/chat/completions", json=body) as response,
    ):
        lines = response.iter_lines()
        assert next(lines).startswith("data: {")
        backend.proc.send_signal(signal.SIGTERM)
        events = [line for line in lines if line.startswith("data: ")]
    assert "[DONE]" not in events[-1]
    error = json.loads(events[-1].removeprefix("data: "))["error"]
    assert error["code"] == "shutting_down"
    assert error["type"] == "server_error"
    assert "grace period of 2 s is over" in error["message"]
    assert backend.proc.wait(timeout=20) == 0
    assert fake.chats[-1].outcome == "cancelled"


def test_a_reply_not_begun_when_the_grace_ends_is_503(serve: Serve, fake: FakeOllama) -> None:
    fake.reply_tokens, fake.token_rate = 1000, 20.0
    backend = serve(grace=2)
    body = {"messages": MESSAGES, "stream": False}

    def when_running() -> None:
        end = time.monotonic() + 30
        while not (fake.chats and fake.chats[-1].outcome == "running"):
            assert time.monotonic() < end, "the chat did not reach Ollama"
            time.sleep(0.02)
        backend.proc.send_signal(signal.SIGTERM)

    with httpx.Client(timeout=30) as client:
        sigterm = ThreadPoolExecutor(1).submit(when_running)
        response = client.post(backend.url + "/api/chat", json=body)
        sigterm.result()
    # Not uvicorn's plain-text 500: a JSON 503 that tells the client to retry.
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "grace period of 2 s is over" in response.json()["error"]
    assert backend.proc.wait(timeout=20) == 0


async def queue_depth_reaches(backend: BackendProcess, depth: int) -> None:
    for _ in range(600):  # a bound, not a measure: at most 30 s
        if backend.metric("llmservice_backend_queue_depth") >= depth:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the queue never held {depth} requests")


async def test_sigterm_answers_queued_requests_at_once(serve: Serve, fake: FakeOllama) -> None:
    fake.reply_tokens, fake.token_rate = 200, 20.0  # about 10 s: far longer than the test
    backend = serve(grace=30, MAX_CONCURRENT_REQUESTS="1")
    openai_body = {"model": "tinyllama", "messages": MESSAGES}
    async with (
        httpx.AsyncClient(base_url=backend.url, timeout=60) as client,
        client.stream("POST", "/api/chat", json={"messages": MESSAGES}) as running,
    ):
        lines = running.aiter_lines()
        assert json.loads(await anext(lines))["done"] is False
        queued = [
            asyncio.create_task(client.post("/api/chat", json={"messages": MESSAGES})),
            asyncio.create_task(client.post("/v1/chat/completions", json=openai_body)),
        ]
        await queue_depth_reaches(backend, 2)
        backend.proc.send_signal(signal.SIGTERM)
        ollama_answer, openai_answer = await asyncio.gather(*queued)
        # Answered while the running stream goes on.
        assert fake.chats[0].outcome == "running"
        for answer in (ollama_answer, openai_answer):
            assert answer.status_code == 503
            assert answer.headers["retry-after"] == "1"
        assert "shutting down" in ollama_answer.json()["error"]
        assert openai_answer.json()["error"]["code"] == "shutting_down"
        rest = [json.loads(line) async for line in lines if line.strip()]
    assert rest[-1]["done"] is True  # the running stream finished in the grace
    assert len(fake.chats) == 1  # the queued requests never reached Ollama
    assert backend.proc.wait(timeout=30) == 0
