"""The run's figures for people: the final table and the live progress line (pure)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from llmservice_operator.tools.loadtest.records import ChatResult, HealthResult
from llmservice_operator.tools.loadtest.stats import Distribution, Summary
from llmservice_operator.tools.texttable import table


def format_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def format_rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_json(s: Summary) -> str:
    """The figures for machines and CI: :meth:`Summary.to_json`, indented, one document."""
    return json.dumps(s.to_json(), indent=2) + "\n"


def render_text(s: Summary) -> str:
    mode = {"on": "streaming", "off": "not streaming", "mix": "half streaming"}.get(s.stream)
    lines = [
        f"load test of {s.url}: {s.api} API, {s.users} users, {mode}",
        f"ran {s.elapsed:.1f} s, stopped by {s.stopped_by}"
        + (" (Ctrl-C: partial results)" if s.interrupted else ""),
        "",
    ]
    lines += table(
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
        numeric=True,
    )
    lines.append("")
    if s.failures or s.health_failures:
        rows = [[f"chat: {cause}", str(n)] for cause, n in s.failures.items()]
        rows += [[f"health check: {cause}", str(n)] for cause, n in s.health_failures.items()]
        lines += table(["failures by cause", "count"], rows, numeric=True)
        for cause, detail in s.examples.items():
            lines.append(f"    e.g. {cause}: {detail}")
    else:
        lines.append("  failures: none")
    lines.append("")

    def dist_row(name: str, d: Distribution, fmt: Any) -> list[str]:
        return [name, str(d.count), fmt(d.p50), fmt(d.p95), fmt(d.p99), fmt(d.max), fmt(d.mean)]

    lines += table(
        ["successful requests", "n", "p50", "p95", "p99", "max", "mean"],
        [
            dist_row("chat latency", s.latency, format_seconds),
            dist_row("time to first token", s.ttft, format_seconds),
            dist_row("tokens/s per stream", s.stream_rate, format_rate),
            dist_row("health check latency", s.health_latency, format_seconds),
        ],
        numeric=True,
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
