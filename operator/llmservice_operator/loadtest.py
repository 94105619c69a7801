"""``llmservice-operator loadtest URL``: simulated users chatting with an LLMService.

The seeds' figures ("39 requests, 11 chats, 17 health checks, 10+ concurrent users,
0 % failures") came from a throw-away script; this command measures the same things
repeatably, through the backend's own APIs, and says how each number was obtained.

How it works: ``--users`` asyncio tasks each hold a conversation (``--turns`` exchanges,
then a new one) through the OpenAI-compatible API or Ollama's, streaming or not, while one
more task checks ``/healthz`` every ``--health-interval`` seconds. The run ends when the
chat budget (``--requests``) is spent, when ``--duration`` has passed, or on Ctrl-C;
whichever comes first. A run always ends by itself: without either bound it lasts
:data:`DEFAULT_DURATION_SECONDS`, and neither bound may exceed :data:`MAX_DURATION_SECONDS`
or :data:`MAX_REQUESTS`. At the time bound, chats still in flight are cancelled and counted
as *unfinished*, never as failures and never in the latencies.

Everything measured is kept as one record per request; the statistics are pure functions of
those records (:func:`summarize`), so what is printed can be tested without a server.

Only the URL the user gives is contacted; proxies from the environment are ignored, so a
loopback URL stays on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx

Api = Literal["openai", "ollama"]
StreamMode = Literal["on", "off", "mix"]
StopReason = Literal["requests", "duration", "interrupt"]

DEFAULT_DURATION_SECONDS = 60.0
MAX_DURATION_SECONDS = 24 * 3600.0
MAX_REQUESTS = 1_000_000
MAX_USERS = 10_000
DEFAULT_USERS = 10
DEFAULT_TIMEOUT_SECONDS = 300.0
DEFAULT_HEALTH_INTERVAL_SECONDS = 5.0
DEFAULT_MODEL = "tinyllama"
CONNECT_TIMEOUT_SECONDS = 10.0
PROGRESS_INTERVAL_SECONDS = 0.5
API_KEY_ENV = "LLMSERVICE_API_KEY"
EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

CHAT_PATHS: dict[Api, str] = {"openai": "/v1/chat/completions", "ollama": "/api/chat"}
HEALTH_PATH = "/healthz"

# Failure causes, as printed and as keys of the JSON "failures" objects.
TIMEOUT = "timeout"
CONNECTION = "connection error"
MID_STREAM = "mid-stream error"
BAD_RESPONSE = "bad response"

BUILTIN_PROMPTS = (
    "What is Kubernetes, in two sentences?",
    "Explain what a sidecar container is.",
    "Write a haiku about autoscaling.",
    "What does a HorizontalPodAutoscaler do?",
    "Give three tips for writing clear error messages.",
    "Summarize the plot of a heist movie in one paragraph.",
    "What is the difference between a process and a thread?",
    "Suggest a name for a friendly chat bot.",
    "How do I reverse a list in Python?",
    "Why is the sky blue?",
    "List four uses of a load test.",
    "Translate 'good morning' into French and Spanish.",
)


def http_cause(status: int) -> str:
    return f"HTTP {status}"


# --------------------------------------------------------------------------------------
# configuration


class UsageError(ValueError):
    """A command-line value that cannot be used; the message names the option."""


@dataclass(frozen=True)
class Config:
    url: str
    api: Api = "openai"
    users: int = DEFAULT_USERS
    stream: StreamMode = "on"
    duration: float = DEFAULT_DURATION_SECONDS
    requests: int | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    health_interval: float = DEFAULT_HEALTH_INTERVAL_SECONDS
    prompts: tuple[str, ...] = BUILTIN_PROMPTS
    model: str = DEFAULT_MODEL
    api_key: str | None = None
    turns: int = 1
    max_tokens: int | None = None
    think_time: float = 0.0


def normalize_url(url: str) -> str:
    """The base URL without a trailing slash; only http(s) URLs with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"URL: {url!r} is not an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise UsageError(f"URL: {url!r} must not have a query or fragment")
    return url.rstrip("/")


def read_prompts(path: str) -> tuple[str, ...]:
    """One prompt per non-blank line of ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--prompts: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--prompts: {path} is not UTF-8 text") from None
    prompts = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not prompts:
        raise UsageError(f"--prompts: {path} has no prompts (every line is blank)")
    return prompts


def config_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Config:
    """Check every option against its bounds; the bounds are what keeps a run finite."""
    env = os.environ if environ is None else environ
    if not 1 <= args.users <= MAX_USERS:
        raise UsageError(f"--users: must be between 1 and {MAX_USERS}, not {args.users}")
    if args.duration is not None and not 0 < args.duration <= MAX_DURATION_SECONDS:
        raise UsageError(
            f"--duration: must be more than 0 and at most {MAX_DURATION_SECONDS:g} seconds, "
            f"not {args.duration:g}"
        )
    if args.requests is not None and not 1 <= args.requests <= MAX_REQUESTS:
        raise UsageError(f"--requests: must be between 1 and {MAX_REQUESTS}, not {args.requests}")
    if not args.timeout > 0:
        raise UsageError(f"--timeout: must be more than 0 seconds, not {args.timeout:g}")
    if args.health_interval < 0:
        raise UsageError(
            f"--health-interval: must be 0 (off) or more, not {args.health_interval:g}"
        )
    if args.turns < 1:
        raise UsageError(f"--turns: must be 1 or more, not {args.turns}")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise UsageError(f"--max-tokens: must be 1 or more, not {args.max_tokens}")
    if args.think_time < 0:
        raise UsageError(f"--think-time: must be 0 or more, not {args.think_time:g}")
    if not args.model.strip():
        raise UsageError("--model: must not be empty")
    if args.duration is not None:
        duration = float(args.duration)
    elif args.requests is not None:
        duration = MAX_DURATION_SECONDS  # the count ends it; the hard cap still holds
    else:
        duration = DEFAULT_DURATION_SECONDS
    return Config(
        url=normalize_url(args.url),
        api=args.api,
        users=args.users,
        stream=args.stream,
        duration=duration,
        requests=args.requests,
        timeout=float(args.timeout),
        health_interval=float(args.health_interval),
        prompts=read_prompts(args.prompts) if args.prompts else BUILTIN_PROMPTS,
        model=args.model,
        api_key=args.api_key or env.get(API_KEY_ENV) or None,
        turns=args.turns,
        max_tokens=args.max_tokens,
        think_time=float(args.think_time),
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``loadtest`` options (cli.py builds the subparser and calls this)."""
    parser.add_argument("url", metavar="URL", help="base URL of the backend or its Service")
    parser.add_argument(
        "--api",
        choices=["openai", "ollama"],
        default="openai",
        help="chat through /v1/chat/completions (openai, default) or /api/chat (ollama)",
    )
    parser.add_argument(
        "-u",
        "--users",
        type=int,
        default=DEFAULT_USERS,
        help="concurrent simulated users (default: %(default)s)",
    )
    streaming = parser.add_mutually_exclusive_group()
    streaming.add_argument(
        "--stream",
        dest="stream",
        action="store_const",
        const="on",
        help="stream every reply (the default)",
    )
    streaming.add_argument(
        "--no-stream", dest="stream", action="store_const", const="off", help="never stream"
    )
    streaming.add_argument(
        "--stream-mix",
        dest="stream",
        action="store_const",
        const="mix",
        help="stream every other request",
    )
    parser.set_defaults(stream="on")
    parser.add_argument(
        "-d",
        "--duration",
        type=float,
        default=None,
        help=(
            f"seconds to run; in-flight chats are cancelled at the end (default "
            f"{DEFAULT_DURATION_SECONDS:g} when --requests is not given either; at most "
            f"{MAX_DURATION_SECONDS:g})"
        ),
    )
    parser.add_argument(
        "-r",
        "--requests",
        type=int,
        default=None,
        help=f"chat requests to send in total, then stop (at most {MAX_REQUESTS})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds one chat may take before it counts as a timeout (default: %(default)s)",
    )
    parser.add_argument(
        "--health-interval",
        type=float,
        default=DEFAULT_HEALTH_INTERVAL_SECONDS,
        help="seconds between /healthz checks; 0 turns them off (default: %(default)s)",
    )
    parser.add_argument(
        "--prompts", metavar="FILE", help="prompts, one per line (default: a built-in set)"
    )
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="model name sent with each chat (default: %(default)s)",
    )
    parser.add_argument(
        "--api-key",
        default=None,
        help=f"sent as 'Authorization: Bearer KEY' (default: ${API_KEY_ENV})",
    )
    parser.add_argument(
        "--turns",
        type=int,
        default=1,
        help="exchanges per conversation before a new one (default: %(default)s)",
    )
    parser.add_argument("--max-tokens", type=int, default=None, help="cap on each reply")
    parser.add_argument(
        "--think-time", type=float, default=0.0, help="seconds a user waits between chats"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--progress",
        action="store_true",
        help="show the live progress line even when stderr is not a terminal",
    )


# --------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class ChatResult:
    """One chat request. Times are seconds; ``started`` counts from the start of the run."""

    started: float
    latency: float
    stream: bool
    failure: str | None = None  # a cause; None when the chat succeeded
    detail: str = ""
    ttft: float | None = None  # request sent -> first token (streams only)
    tokens: int = 0  # completion tokens (the server's count when it gave one)
    decode_seconds: float | None = None  # first token -> last token (streams only)

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True)
class HealthResult:
    started: float
    latency: float
    failure: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.failure is None


# --------------------------------------------------------------------------------------
# statistics (pure)


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile, interpolating linearly between closest ranks (the method of
    numpy's default and of ``statistics.quantiles(method="inclusive")``); None when empty.
    """
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be between 0 and 100, not {p}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Distribution:
    count: int
    mean: float | None = None
    min: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean": self.mean,
            "min": self.min,
            "p50": self.p50,
            "p95": self.p95,
            "p99": self.p99,
            "max": self.max,
        }


def distribution(values: Iterable[float]) -> Distribution:
    data = list(values)
    if not data:
        return Distribution(0)
    return Distribution(
        count=len(data),
        mean=sum(data) / len(data),
        min=min(data),
        p50=percentile(data, 50),
        p95=percentile(data, 95),
        p99=percentile(data, 99),
        max=max(data),
    )


def stream_rate(tokens: int, decode_seconds: float | None) -> float | None:
    """Tokens per second of one stream once it has started: the tokens after the first
    over the time from the first to the last. Time to first token is measured apart, so
    it does not dilute the decode rate. None with fewer than two tokens."""
    if tokens < 2 or decode_seconds is None or decode_seconds <= 0:
        return None
    return (tokens - 1) / decode_seconds


def failures_by_cause(failures: Iterable[str | None]) -> dict[str, int]:
    """Count per cause, most frequent first (ties by name)."""
    counts = Counter(f for f in failures if f is not None)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass(frozen=True)
class Summary:
    url: str
    api: str
    users: int
    stream: str
    elapsed: float
    stopped_by: str
    chats_sent: int
    chats_ok: int
    chats_failed: int
    chats_unfinished: int
    health_sent: int
    health_ok: int
    health_failed: int
    failures: dict[str, int]
    health_failures: dict[str, int]
    latency: Distribution
    ttft: Distribution
    stream_rate: Distribution
    tokens: int
    tokens_per_second: float | None
    health_latency: Distribution
    examples: dict[str, str] = field(default_factory=dict)  # cause -> one detail

    @property
    def interrupted(self) -> bool:
        return self.stopped_by == "interrupt"

    @property
    def requests_total(self) -> int:
        return self.chats_sent + self.health_sent

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "api": self.api,
            "users": self.users,
            "stream": self.stream,
            "elapsed_seconds": self.elapsed,
            "stopped_by": self.stopped_by,
            "interrupted": self.interrupted,
            "requests": {
                "total": self.requests_total,
                "chats": {
                    "sent": self.chats_sent,
                    "succeeded": self.chats_ok,
                    "failed": self.chats_failed,
                    "unfinished": self.chats_unfinished,
                },
                "health_checks": {
                    "sent": self.health_sent,
                    "succeeded": self.health_ok,
                    "failed": self.health_failed,
                },
            },
            "failures": self.failures,
            "health_failures": self.health_failures,
            "failure_examples": self.examples,
            "latency_seconds": self.latency.to_json(),
            "time_to_first_token_seconds": self.ttft.to_json(),
            "tokens": {
                "completion_tokens": self.tokens,
                "per_second_total": self.tokens_per_second,
                "per_second_per_stream": self.stream_rate.to_json(),
            },
            "health_latency_seconds": self.health_latency.to_json(),
        }


def summarize(
    config: Config,
    chats: Sequence[ChatResult],
    health: Sequence[HealthResult],
    *,
    elapsed: float,
    unfinished: int,
    stopped_by: StopReason,
) -> Summary:
    """The run's figures. Latency, time to first token and token rates are computed over
    successful chats only: a failed request's time says how it failed, not how fast the
    service answers. Total tokens per second is every successful chat's completion tokens
    over the run's wall-clock time."""
    ok = [c for c in chats if c.ok]
    streams = [c for c in ok if c.stream]
    tokens = sum(c.tokens for c in ok)
    examples: dict[str, str] = {}
    for failure, detail in [(c.failure, c.detail) for c in chats] + [
        (h.failure, h.detail) for h in health
    ]:
        if failure is not None and detail:
            examples.setdefault(failure, detail)
    rates = [r for c in streams if (r := stream_rate(c.tokens, c.decode_seconds)) is not None]
    return Summary(
        url=config.url,
        api=config.api,
        users=config.users,
        stream=config.stream,
        elapsed=elapsed,
        stopped_by=stopped_by,
        chats_sent=len(chats) + unfinished,
        chats_ok=len(ok),
        chats_failed=len(chats) - len(ok),
        chats_unfinished=unfinished,
        health_sent=len(health),
        health_ok=sum(1 for h in health if h.ok),
        health_failed=sum(1 for h in health if not h.ok),
        failures=failures_by_cause(c.failure for c in chats),
        health_failures=failures_by_cause(h.failure for h in health),
        latency=distribution(c.latency for c in ok),
        ttft=distribution(c.ttft for c in streams if c.ttft is not None),
        stream_rate=distribution(rates),
        tokens=tokens,
        tokens_per_second=tokens / elapsed if elapsed > 0 else None,
        health_latency=distribution(h.latency for h in health if h.ok),
        examples=examples,
    )


# --------------------------------------------------------------------------------------
# rendering (pure)


def format_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def format_rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    first, *rest = cells
    out = f"  {first:<{widths[0]}}"
    for cell, width in zip(rest, widths[1:], strict=True):
        out += f"  {cell:>{width}}"
    return out.rstrip()


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [_row(header, widths)] + [_row(r, widths) for r in rows]


def render_text(s: Summary) -> str:
    mode = {"on": "streaming", "off": "not streaming", "mix": "half streaming"}.get(s.stream)
    lines = [
        f"load test of {s.url}: {s.api} API, {s.users} users, {mode}",
        f"ran {s.elapsed:.1f} s, stopped by {s.stopped_by}"
        + (" (Ctrl-C: partial results)" if s.interrupted else ""),
        "",
    ]
    lines += _table(
        ["requests", "sent", "ok", "failed", "unfinished"],
        [
            [
                "chats",
                str(s.chats_sent),
                str(s.chats_ok),
                str(s.chats_failed),
                str(s.chats_unfinished),
            ],
            ["health checks", str(s.health_sent), str(s.health_ok), str(s.health_failed), "-"],
            [
                "total",
                str(s.requests_total),
                str(s.chats_ok + s.health_ok),
                str(s.chats_failed + s.health_failed),
                str(s.chats_unfinished),
            ],
        ],
    )
    lines.append("")
    if s.failures or s.health_failures:
        rows = [[f"chat: {cause}", str(n)] for cause, n in s.failures.items()]
        rows += [[f"health check: {cause}", str(n)] for cause, n in s.health_failures.items()]
        lines += _table(["failures by cause", "count"], rows)
        for cause, detail in s.examples.items():
            lines.append(f"    e.g. {cause}: {detail}")
    else:
        lines.append("  failures: none")
    lines.append("")

    def dist_row(name: str, d: Distribution, fmt: Any) -> list[str]:
        return [name, str(d.count), fmt(d.p50), fmt(d.p95), fmt(d.p99), fmt(d.max), fmt(d.mean)]

    lines += _table(
        ["successful requests", "n", "p50", "p95", "p99", "max", "mean"],
        [
            dist_row("chat latency", s.latency, format_seconds),
            dist_row("time to first token", s.ttft, format_seconds),
            dist_row("tokens/s per stream", s.stream_rate, format_rate),
            dist_row("health check latency", s.health_latency, format_seconds),
        ],
    )
    lines.append("")
    lines.append(
        f"  tokens/s total: {format_rate(s.tokens_per_second)} "
        f"({s.tokens} completion tokens in {s.elapsed:.1f} s)"
    )
    return "\n".join(lines) + "\n"


def progress_line(
    elapsed: float,
    chats: Sequence[ChatResult],
    health: Sequence[HealthResult],
    in_flight: int,
) -> str:
    ok = sum(1 for c in chats if c.ok)
    tokens = sum(c.tokens for c in chats if c.ok)
    rate = tokens / elapsed if elapsed > 0 else 0.0
    health_ok = sum(1 for h in health if h.ok)
    return (
        f"[{elapsed:6.1f}s] chats {ok} ok, {len(chats) - ok} failed, {in_flight} in flight"
        f" | {rate:.1f} tok/s | health {health_ok}/{len(health)} ok"
    )


# --------------------------------------------------------------------------------------
# the wire protocols (pure parsers)


@dataclass
class StreamState:
    """What one stream has said so far: token times, the server's count, its end."""

    token_times: list[float] = field(default_factory=list)
    usage_tokens: int | None = None
    done: bool = False
    error: str | None = None
    text: str = ""

    @property
    def tokens(self) -> int:
        return self.usage_tokens if self.usage_tokens is not None else len(self.token_times)


def _dig(obj: Any, *keys: str | int) -> Any:
    """obj[k1][k2]... or None when any step is missing or of the wrong type: a server that
    answers nonsense makes a failed request, never a crashed user."""
    for key in keys:
        if isinstance(key, int):
            if not isinstance(obj, list) or len(obj) <= key:
                return None
        elif not isinstance(obj, dict):
            return None
        obj = obj[key] if isinstance(key, int) else obj.get(key)
    return obj


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def feed_openai_line(state: StreamState, line: str, now: float) -> None:
    """One line of an OpenAI chat-completions SSE stream."""
    if not line.startswith("data:"):
        return  # blank separators, comments, event:/id: fields
    data = line[5:].strip()
    if data == "[DONE]":
        state.done = True
        return
    try:
        obj = json.loads(data)
    except ValueError:
        state.error = f"an event that is not JSON: {data[:80]!r}"
        return
    if not isinstance(obj, dict):
        return
    if "error" in obj:
        state.error = _error_text(obj["error"])
        return
    completion_tokens = _dig(obj, "usage", "completion_tokens")
    if isinstance(completion_tokens, int):
        state.usage_tokens = completion_tokens
    content = _dig(obj, "choices", 0, "delta", "content")
    if isinstance(content, str) and content:
        state.token_times.append(now)
        state.text += content


def feed_ollama_line(state: StreamState, line: str, now: float) -> None:
    """One line of an Ollama /api/chat NDJSON stream."""
    if not line.strip():
        return
    try:
        obj = json.loads(line)
    except ValueError:
        state.error = f"a line that is not JSON: {line[:80]!r}"
        return
    if not isinstance(obj, dict):
        return
    if "error" in obj:
        state.error = _error_text(obj["error"])
        return
    content = _dig(obj, "message", "content")
    if isinstance(content, str) and content:
        state.token_times.append(now)
        state.text += content
    if obj.get("done"):
        if isinstance(obj.get("eval_count"), int):
            state.usage_tokens = obj["eval_count"]
        state.done = True


def parse_unary(api: Api, body: bytes) -> tuple[str, int]:
    """(reply text, completion tokens) of a non-streaming answer; ValueError if malformed."""
    obj = json.loads(body)
    if not isinstance(obj, dict):
        raise ValueError("the answer is not a JSON object")
    if "error" in obj:
        raise ValueError(_error_text(obj["error"]))
    if api == "openai":
        if not isinstance(_dig(obj, "choices", 0), dict):
            raise ValueError("the answer has no choices")
        text = str(_dig(obj, "choices", 0, "message", "content") or "")
        tokens = _dig(obj, "usage", "completion_tokens")
    else:
        if not obj.get("done"):
            raise ValueError("the answer is not done")
        text = str(_dig(obj, "message", "content") or "")
        tokens = obj.get("eval_count")
    return text, tokens if isinstance(tokens, int) else 0


def chat_body(config: Config, messages: list[dict[str, str]], stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": config.model, "messages": messages, "stream": stream}
    if config.api == "openai":
        if stream:
            body["stream_options"] = {"include_usage": True}
        if config.max_tokens is not None:
            body["max_tokens"] = config.max_tokens
    elif config.max_tokens is not None:
        body["options"] = {"num_predict": config.max_tokens}
    return body


# --------------------------------------------------------------------------------------
# the run


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 160 else text[:157] + "..."


def _http_detail(status: int, body: bytes) -> str:
    try:
        obj = json.loads(body)
    except ValueError:
        return _short(body.decode(errors="replace")) or f"HTTP {status}"
    if isinstance(obj, dict) and "error" in obj:
        return _short(_error_text(obj["error"]))
    return _short(body.decode(errors="replace"))


class Runner:
    """One load test: the users, the health checker and the records they produce."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.chats: list[ChatResult] = []
        self.health: list[HealthResult] = []
        self.in_flight = 0
        self.claimed = 0
        self.stop = asyncio.Event()
        self.t0 = time.perf_counter()
        headers = {"user-agent": "llmservice-operator-loadtest"}
        if config.api_key:
            headers["authorization"] = f"Bearer {config.api_key}"
        self.headers = headers

    def clock(self) -> float:
        return time.perf_counter() - self.t0

    def _claim(self) -> int | None:
        """The next request number, or None when the budget is spent or the run stops."""
        if self.stop.is_set():
            return None
        if self.config.requests is not None and self.claimed >= self.config.requests:
            return None
        self.claimed += 1
        return self.claimed - 1

    def _wants_stream(self, number: int) -> bool:
        mode = self.config.stream
        return mode == "on" or (mode == "mix" and number % 2 == 0)

    async def user(self, client: httpx.AsyncClient) -> None:
        history: list[dict[str, str]] = []
        turns = 0
        prompts = self.config.prompts
        while (number := self._claim()) is not None:
            if turns >= self.config.turns:
                history, turns = [], 0
            messages = [*history, {"role": "user", "content": prompts[number % len(prompts)]}]
            self.in_flight += 1
            try:
                result, reply = await self.chat(client, messages, self._wants_stream(number))
            finally:
                self.in_flight -= 1
            self.chats.append(result)
            if result.ok:
                history = [*messages, {"role": "assistant", "content": reply}]
                turns += 1
            else:
                history, turns = [], 0
            if self.config.think_time > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), self.config.think_time)

    async def chat(
        self, client: httpx.AsyncClient, messages: list[dict[str, str]], stream: bool
    ) -> tuple[ChatResult, str]:
        import httpx  # here, not at the top: `llmservice-operator` starts without it

        config = self.config
        url = config.url + CHAT_PATHS[config.api]
        body = chat_body(config, messages, stream)
        started = self.clock()
        state = StreamState()
        responded = False

        def failed(cause: str, detail: str) -> tuple[ChatResult, str]:
            return ChatResult(
                started, self.clock() - started, stream, cause, detail, tokens=state.tokens
            ), ""

        try:
            async with asyncio.timeout(config.timeout):
                async with client.stream("POST", url, json=body, headers=self.headers) as resp:
                    if resp.status_code != 200:
                        raw = await resp.aread()
                        return failed(
                            http_cause(resp.status_code), _http_detail(resp.status_code, raw)
                        )
                    responded = True
                    if not stream:
                        raw = await resp.aread()
                        latency = self.clock() - started
                        try:
                            text, tokens = parse_unary(config.api, raw)
                        except ValueError as exc:
                            return failed(BAD_RESPONSE, _short(str(exc)))
                        return ChatResult(started, latency, stream, tokens=tokens), text
                    feed = feed_openai_line if config.api == "openai" else feed_ollama_line
                    async for line in resp.aiter_lines():
                        feed(state, line, self.clock())
                        if state.error is not None or state.done:
                            break
        except TimeoutError:
            return failed(TIMEOUT, f"no complete answer within {config.timeout:g} s")
        except httpx.TimeoutException as exc:
            return failed(TIMEOUT, _short(f"{type(exc).__name__}: {exc}"))
        except httpx.TransportError as exc:
            cause = MID_STREAM if responded else CONNECTION
            return failed(cause, _short(f"{type(exc).__name__}: {exc}") or type(exc).__name__)
        except httpx.RequestError as exc:  # undecodable body, redirect loop, ...
            return failed(BAD_RESPONSE, _short(f"{type(exc).__name__}: {exc}"))
        latency = self.clock() - started
        if state.error is not None:
            return failed(MID_STREAM, _short(state.error))
        if not state.done:
            end = "[DONE]" if config.api == "openai" else "the final done object"
            return failed(MID_STREAM, f"the stream ended before {end}")
        times = state.token_times
        return ChatResult(
            started,
            latency,
            stream,
            ttft=times[0] - started if times else None,
            tokens=state.tokens,
            decode_seconds=times[-1] - times[0] if len(times) > 1 else None,
        ), state.text

    async def check_health(self, client: httpx.AsyncClient) -> HealthResult:
        import httpx

        started = self.clock()
        try:
            async with asyncio.timeout(self.config.timeout):
                resp = await client.get(self.config.url + HEALTH_PATH, headers=self.headers)
        except (TimeoutError, httpx.TimeoutException):
            return HealthResult(started, self.clock() - started, TIMEOUT, "no answer in time")
        except httpx.TransportError as exc:
            detail = _short(f"{type(exc).__name__}: {exc}")
            return HealthResult(started, self.clock() - started, CONNECTION, detail)
        except httpx.RequestError as exc:
            detail = _short(f"{type(exc).__name__}: {exc}")
            return HealthResult(started, self.clock() - started, BAD_RESPONSE, detail)
        latency = self.clock() - started
        if resp.status_code != 200:
            detail = _http_detail(resp.status_code, resp.content)
            return HealthResult(started, latency, http_cause(resp.status_code), detail)
        return HealthResult(started, latency)

    async def health_checker(self, client: httpx.AsyncClient) -> None:
        while not self.stop.is_set():
            self.health.append(await self.check_health(client))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.config.health_interval)

    async def show_progress(self, out: TextIO) -> None:
        width = 0
        try:
            while True:
                line = progress_line(self.clock(), self.chats, self.health, self.in_flight)
                out.write("\r" + line.ljust(width))
                out.flush()
                width = len(line)
                await asyncio.sleep(PROGRESS_INTERVAL_SECONDS)
        finally:
            out.write("\r" + " " * width + "\r")
            out.flush()


async def run(
    config: Config,
    *,
    stop: asyncio.Event | None = None,
    progress: TextIO | None = None,
) -> Summary:
    """Run the load test; setting ``stop`` ends it early with the figures so far (Ctrl-C)."""
    import httpx

    runner = Runner(config)
    limits = httpx.Limits(max_connections=config.users + 2, max_keepalive_connections=config.users)
    timeout = httpx.Timeout(config.timeout, connect=min(CONNECT_TIMEOUT_SECONDS, config.timeout))
    async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False) as client:
        users = [asyncio.create_task(runner.user(client)) for _ in range(config.users)]
        helpers: list[asyncio.Task[None]] = []
        if config.health_interval > 0:
            helpers.append(asyncio.create_task(runner.health_checker(client)))
        if progress is not None:
            helpers.append(asyncio.create_task(runner.show_progress(progress)))
        everyone: asyncio.Future[list[None]] = asyncio.gather(*users)
        interrupted: asyncio.Future[Any] = asyncio.create_task((stop or asyncio.Event()).wait())
        try:
            await asyncio.wait(
                [everyone, interrupted], timeout=config.duration, return_when="FIRST_COMPLETED"
            )
        finally:
            # Snapshot before cancelling: cancellation unwinds the in-flight counter.
            unfinished = runner.in_flight
            elapsed = runner.clock()
            reason: StopReason = "duration"
            if interrupted.done():
                reason = "interrupt"
            elif all(task.done() for task in users):
                reason = "requests"
            runner.stop.set()
            for task in [*users, *helpers, interrupted]:
                task.cancel()
            await asyncio.gather(everyone, *helpers, interrupted, return_exceptions=True)
    for task in users:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise RuntimeError("a simulated user failed") from task.exception()
    return summarize(
        config,
        runner.chats,
        runner.health,
        elapsed=elapsed,
        unfinished=unfinished,
        stopped_by=reason,
    )


def exit_code(summary: Summary) -> int:
    if summary.interrupted:
        return EXIT_INTERRUPTED
    if summary.chats_failed or summary.health_failed:
        return EXIT_FAILURES
    return EXIT_OK


async def _main_async(config: Config, progress: TextIO | None) -> Summary:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_sigint() -> None:
        stop.set()
        # A second Ctrl-C gets Python's default: stop at once.
        loop.remove_signal_handler(signal.SIGINT)

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        return await run(config, stop=stop, progress=progress)
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGINT)


def main(args: argparse.Namespace) -> int:
    """The ``loadtest`` subcommand: results on stdout, progress and errors on stderr."""
    try:
        config = config_from_args(args)
    except UsageError as exc:
        sys.stderr.write(f"llmservice-operator loadtest: {exc}\n")
        return EXIT_USAGE
    progress = sys.stderr if (args.progress or sys.stderr.isatty()) else None
    summary = asyncio.run(_main_async(config, progress))
    if args.json:
        sys.stdout.write(json.dumps(summary.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(summary))
    sys.stdout.flush()
    return exit_code(summary)
