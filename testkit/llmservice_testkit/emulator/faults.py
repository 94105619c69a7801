"""Fault injection: make chosen requests fail or slow down, on purpose, in tests.

Rules match ``"<METHOD> <path>"`` (for example ``"PATCH /apis/apps/v1/namespaces/x/..."``)
against a regular expression, apply to a fraction of the matches (seeded, so runs repeat)
and optionally only ``times`` times. Cutting watch streams and expiring resourceVersions are
operations on the server itself (see ``ApiServer.cut_watches`` / ``expire_resource_versions``).
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field

from llmservice_testkit.emulator.errors import ApiError

_REASONS = {
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


@dataclass
class Fault:
    pattern: str = ".*"
    status: int | None = 500  # None: only delay
    fraction: float = 1.0
    times: int | None = None  # None: forever
    delay: float = 0.0  # seconds before answering (or failing)
    retry_after: int | None = None  # seconds, for 429/503
    hits: int = field(default=0, init=False)

    def error(self, what: str) -> ApiError:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        if self.status == 429 and not headers:
            headers = {"Retry-After": "1"}
        details: dict[str, object] = {}
        if self.retry_after is not None or self.status == 429:
            details["retryAfterSeconds"] = int(headers["Retry-After"])
        return ApiError(
            self.status or 500,
            _REASONS.get(self.status or 500, "InternalError"),
            f"injected fault for {what}",
            details,
            headers,
        )


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self._rules: list[Fault] = []
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._rules.append(fault)
        return fault

    def fail(
        self,
        pattern: str = ".*",
        status: int = 500,
        *,
        fraction: float = 1.0,
        times: int | None = None,
        retry_after: int | None = None,
        delay: float = 0.0,
    ) -> Fault:
        return self.add(Fault(pattern, status, fraction, times, delay, retry_after))

    def delay(
        self, pattern: str = ".*", seconds: float = 0.5, *, times: int | None = None
    ) -> Fault:
        return self.add(Fault(pattern, None, 1.0, times, seconds))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def match(self, method: str, path: str) -> Fault | None:
        what = f"{method.upper()} {path}"
        with self._lock:
            for rule in self._rules:
                if rule.times is not None and rule.hits >= rule.times:
                    continue
                if not re.search(rule.pattern, what):
                    continue
                if self._random.random() >= rule.fraction:
                    continue
                rule.hits += 1
                return rule
        return None
