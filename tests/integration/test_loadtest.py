"""``llmservice-operator loadtest`` against the real backend app in front of the fake Ollama.

The fake paces its tokens on a fixed schedule (token ``i`` leaves ``i / token_rate`` seconds
after the first) and records every chat it served, so the load test's figures can be
checked against what was actually emitted:

- token counts are exact (the backend forwards the fake's own counts);
- a stream's rate is measured between its first and last token, so it should equal the
  fake's rate; the fake catches up on a late token instead of drifting, so each rate is
  off only by the delivery jitter of two tokens over a span of at least 0.45 s (the
  prompts below make every reply at least 10 tokens at 20 tokens/s). On a busy 2-core
  machine, with the client, the backend and the fake sharing one interpreter, that jitter
  can reach tens of milliseconds, hence 15 % on the median and 40 % on the extremes;
- the client sees each chat around the span the fake served it in, so every latency
  percentile is at least the fake's (less :data:`STAMP_SKEW`: the fake stamps its end only
  after writing its last bytes, and the client may finish reading them first), and at most
  a generous second more (loopback overhead is milliseconds; the margin is for a loaded
  machine, not a speed target).
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from llmservice_backend.app import create_app
from llmservice_backend.settings import Settings
from llmservice_backend.testing.fake_ollama import FakeOllama
from llmservice_backend.testing.servers import ThreadedServer
from llmservice_operator.tools import loadtest
from llmservice_operator.tools.loadtest import Config

TOKEN_RATE = 20.0
FIRST_TOKEN_DELAY = 0.2
# The fake answers "You said: <prompt>", one token per word: 2 + words(prompt) tokens.
PROMPTS = (
    "alpha beta gamma delta epsilon zeta eta theta",
    "one two three four five six seven eight nine ten",
    "red green blue cyan magenta yellow black white grey pink brown",
    "a b c d e f g h i",
)
SLACK = 1.0  # seconds of client-side overhead tolerated on top of the fake's own time
STAMP_SKEW = 0.05  # seconds by which the fake's end stamp may trail the client's


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(token_rate=TOKEN_RATE) as f:
        yield f


def _backend(fake: FakeOllama, **settings: object) -> ThreadedServer:
    app = create_app(Settings(ollama_url=fake.url, **settings), manage_model=False)  # type: ignore[arg-type]
    return ThreadedServer(app).start()


@pytest.fixture
def backend_url(fake: FakeOllama) -> Iterator[str]:
    server = _backend(fake)
    yield server.url
    server.stop()


def _config(url: str, **overrides: object) -> Config:
    values: dict[str, object] = {
        "url": url,
        "users": 4,
        "requests": 12,
        "duration": 120.0,
        "timeout": 60.0,
        "health_interval": 0.2,
        "prompts": PROMPTS,
        **overrides,
    }
    return Config(**values)  # type: ignore[arg-type]


async def _run(config: Config) -> loadtest.Summary:
    # The run bounds itself; the outer limit only turns a hang into a test failure.
    return await asyncio.wait_for(loadtest.run(config), timeout=120)


@pytest.mark.parametrize("api", ["openai", "ollama"])
async def test_figures_agree_with_what_the_fake_emitted(
    fake: FakeOllama, backend_url: str, api: str
) -> None:
    fake.faults.first_token_delay = FIRST_TOKEN_DELAY
    s = await _run(_config(backend_url, api=api, stream="mix"))

    assert s.stopped_by == "requests"
    assert (s.chats_sent, s.chats_ok, s.chats_failed, s.chats_unfinished) == (12, 12, 0, 0)
    assert s.failures == {}
    served = list(fake.chats)
    assert len(served) == 12
    # The fake marks a chat completed after its last write; the client may be done first.
    await fake.wait_for(lambda: all(c.outcome == "completed" for c in served), within=10)
    assert sum(c.stream for c in served) == 6  # --stream-mix: every other request

    # Tokens: exactly what the fake sent; the total rate is that over the run's time.
    assert s.tokens == sum(c.tokens_sent for c in served)
    assert s.tokens_per_second == pytest.approx(s.tokens / s.elapsed)

    # Per-stream decode rate: the fake's cadence (tolerances in the module docstring).
    assert s.stream_rate.count == 6
    assert s.stream_rate.p50 == pytest.approx(TOKEN_RATE, rel=0.15)
    assert s.stream_rate.min is not None
    assert s.stream_rate.max is not None
    assert s.stream_rate.min >= TOKEN_RATE * 0.6
    assert s.stream_rate.max <= TOKEN_RATE * 1.4

    # Latency percentiles: at least the fake's own serving spans, plus little.
    spans = [c.ended - c.started for c in served if c.ended is not None]
    assert len(spans) == 12
    for p, measured in ((50, s.latency.p50), (95, s.latency.p95), (99, s.latency.p99)):
        expected = loadtest.percentile(spans, p)
        assert measured is not None
        assert expected is not None
        assert expected - STAMP_SKEW <= measured <= expected + SLACK, f"p{p}"

    # Time to first token: the fake's delay before its first token, streams only.
    assert s.ttft.count == 6
    assert s.ttft.min is not None
    assert s.ttft.max is not None
    assert s.ttft.min >= FIRST_TOKEN_DELAY
    assert s.ttft.max <= FIRST_TOKEN_DELAY + SLACK

    # Health checks ran beside the chats and all succeeded.
    assert s.health_sent >= 1
    assert s.health_ok == s.health_sent == s.health_latency.count
    assert s.requests_total == 12 + s.health_sent
    assert loadtest.exit_code(s) == loadtest.EXIT_OK


async def test_conversations_carry_their_history(fake: FakeOllama, backend_url: str) -> None:
    s = await _run(_config(backend_url, users=1, requests=3, turns=3, health_interval=0))
    assert s.chats_ok == 3
    lengths = [len(c.body["messages"]) for c in fake.chats]
    assert lengths == [1, 3, 5]  # user; user, assistant, user; ...
    second = fake.chats[1].body["messages"]
    assert second[1] == {"role": "assistant", "content": f"You said: {PROMPTS[0]}"}


@pytest.mark.parametrize(
    ("fault", "value", "expected"),
    [
        # Ollama answers 500: the backend says 502, before any byte of a stream.
        ("status", 500, {"HTTP 502": 4}),
        # Ollama fails after two tokens: streams break after their 200; a non-streaming
        # request gets the failure as its status.
        ("error_after_tokens", 2, {"mid-stream error": 2, "HTTP 502": 2}),
    ],
)
@pytest.mark.parametrize("api", ["openai", "ollama"])
async def test_injected_failures_are_counted_by_cause(
    fake: FakeOllama,
    backend_url: str,
    api: str,
    fault: str,
    value: int,
    expected: dict[str, int],
) -> None:
    setattr(fake.faults, fault, value)
    s = await _run(_config(backend_url, api=api, stream="mix", requests=4, health_interval=0))
    assert s.failures == expected
    assert (s.chats_sent, s.chats_ok, s.chats_failed) == (4, 0, 4)
    assert len(fake.chats) == 4
    assert s.latency.count == 0  # failed requests do not make latency figures
    assert loadtest.exit_code(s) == loadtest.EXIT_FAILURES


async def test_a_stalled_reply_is_a_timeout(fake: FakeOllama, backend_url: str) -> None:
    fake.faults.stall_after_tokens = 1
    fake.faults.stall_seconds = 60
    s = await _run(_config(backend_url, stream="mix", users=2, requests=2, timeout=1.0))
    assert s.failures == {"timeout": 2}
    assert "1 s" in s.examples["timeout"]
    # The load test hung up: the fake saw both clients leave.
    await fake.wait_for(lambda: all(c.outcome == "cancelled" for c in fake.chats), within=10)


async def test_an_unreachable_url_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now.
    s = await _run(_config(f"http://127.0.0.1:{port}", requests=3, users=1, health_interval=0.2))
    assert s.failures == {"connection error": 3}
    assert s.health_failed == s.health_sent >= 1
    assert s.health_failures == {"connection error": s.health_sent}


async def test_api_key(fake: FakeOllama) -> None:
    server = _backend(fake, api_key="sesame")
    try:
        refused = await _run(_config(server.url, requests=2, users=1, health_interval=0))
        assert refused.failures == {"HTTP 401": 2}
        accepted = await _run(
            _config(server.url, requests=2, users=1, health_interval=0, api_key="sesame")
        )
        assert accepted.chats_ok == 2
    finally:
        server.stop()


async def test_the_time_bound_cancels_chats_in_flight(fake: FakeOllama, backend_url: str) -> None:
    fake.token_rate = 2.0
    fake.reply_tokens = 200  # a 100-second reply: only the time bound can end this run
    s = await _run(_config(backend_url, users=2, requests=None, duration=1.0))
    assert s.stopped_by == "duration"
    assert s.elapsed >= 1.0
    assert (s.chats_sent, s.chats_ok, s.chats_failed, s.chats_unfinished) == (2, 0, 0, 2)
    assert loadtest.exit_code(s) == loadtest.EXIT_OK  # unfinished is not failed
    await fake.wait_for(lambda: all(c.outcome == "cancelled" for c in fake.chats), within=10)


# --- the command, as a process ----------------------------------------------------------


def _command(url: str, *argv: str) -> list[str]:
    return [sys.executable, "-m", "llmservice_operator", "loadtest", url, *argv]


def test_json_output_and_progress_line(backend_url: str, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n")
    done = subprocess.run(
        _command(
            backend_url, "-u", "3", "-r", "6", "--json", "--progress", "--prompts", str(prompts)
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["requests"]["chats"] == {"sent": 6, "succeeded": 6, "failed": 0, "unfinished": 0}
    assert data["stopped_by"] == "requests"
    assert data["tokens"]["per_second_per_stream"]["count"] == 6
    assert "in flight" in done.stderr  # the progress line, asked for with --progress


def test_duration_ends_the_command(fake: FakeOllama, backend_url: str) -> None:
    fake.token_rate = 2.0
    fake.reply_tokens = 200
    started = time.monotonic()
    done = subprocess.run(
        _command(backend_url, "-u", "2", "--duration", "2", "--json"),
        capture_output=True,
        text=True,
        timeout=120,  # a hang fails here; the bound below is deliberately loose
        check=False,
    )
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["stopped_by"] == "duration"
    assert data["requests"]["chats"]["unfinished"] == 2
    assert 2.0 <= data["elapsed_seconds"] < wall
    assert wall < 60  # it ended by itself, long before the reply could have


def test_ctrl_c_prints_what_was_measured(fake: FakeOllama, backend_url: str) -> None:
    fake.reply_tokens = 4  # quick replies: several finish before the interrupt
    proc = subprocess.Popen(
        _command(backend_url, "-u", "2", "--duration", "300", "--health-interval", "0.2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while sum(c.outcome == "completed" for c in fake.chats) < 3:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the load test sent no chats"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == loadtest.EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    assert "stopped by interrupt (Ctrl-C: partial results)" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert int(rows["chats"][2]) >= 3  # the ok column: what finished before Ctrl-C
    assert int(rows["health"][3]) >= 1  # "health checks": sent, ok, ...


def test_bad_option_is_a_usage_error(backend_url: str) -> None:
    done = subprocess.run(
        _command(backend_url, "--requests", "0"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--requests: must be between 1 and" in done.stderr
    assert done.stdout == ""
