"""SIGTERM on the real server process: stop accepting, let running streams finish in the grace."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from llmservice_backend.testing.fake_ollama import FakeOllama

pytestmark = pytest.mark.slow

MESSAGES = [{"role": "user", "content": "hello fake"}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serve(fake: FakeOllama) -> Iterator[object]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(grace: float) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        env = {
            **os.environ,
            "OLLAMA_URL": fake.url,
            "BACKEND_HOST": "127.0.0.1",
            "BACKEND_PORT": str(port),
            "SHUTDOWN_GRACE_SECONDS": str(grace),
        }
        proc = subprocess.Popen([sys.executable, "-m", "llmservice_backend"], env=env)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        end = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    return proc, url
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "the backend exited while starting"
            assert time.monotonic() < end, "the backend did not start"
            time.sleep(0.05)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigterm_lets_a_running_stream_finish(serve: object, fake: FakeOllama) -> None:
    fake.reply_tokens, fake.token_rate = 30, 15.0  # about 2 s of streaming
    proc, url = serve(grace=20)  # type: ignore[operator]
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


def test_a_stream_longer_than_the_grace_is_cut(serve: object, fake: FakeOllama) -> None:
    fake.reply_tokens, fake.token_rate = 1000, 20.0  # 50 s, far past the grace
    proc, url = serve(grace=1)  # type: ignore[operator]
    received: list[str] = []
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", url + "/api/chat", json={"messages": MESSAGES}) as response,
    ):
        lines = response.iter_lines()
        received.append(next(lines))
        proc.send_signal(signal.SIGTERM)
        with pytest.raises(httpx.RemoteProtocolError):
            received.extend(lines)
    assert not any('"done": true' in line for line in received)
    assert proc.wait(timeout=20) == 0
    # The upstream request was closed with the stream.
    assert fake.chats[-1].outcome == "cancelled"
