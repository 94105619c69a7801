"""What one run measures: a record per chat and per health check, and the names of causes.

Every other part of the load test speaks in these terms, so they live apart from any of
them: the runner produces the records, the statistics consume them, the output prints the
causes as they are named here. :class:`UsageError` is here for the same reason: both the
option checks and the prompt file reader raise it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Api = Literal["openai", "ollama"]
StreamMode = Literal["on", "off", "mix"]
StopReason = Literal["requests", "duration", "interrupt"]


# Failure causes, as printed and as keys of the JSON "failures" objects.
TIMEOUT = "timeout"
CONNECTION = "connection error"
MID_STREAM = "mid-stream error"
BAD_RESPONSE = "bad response"


def http_cause(status: int) -> str:
    return f"HTTP {status}"


class UsageError(ValueError):
    """A command-line value that cannot be used; the message names the option."""


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
