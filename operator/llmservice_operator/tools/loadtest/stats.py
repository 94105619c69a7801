"""The run's figures as pure functions of its records, so they can be tested without a server."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmservice_operator.tools.loadtest.config import Config
from llmservice_operator.tools.loadtest.records import ChatResult, HealthResult, StopReason


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
