"""Prometheus metrics of the operator, served on ``/metrics``.

A registry of our own (not the process-global default) so tests can start several
operators in one process and read each one's figures.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

PHASES = ("Pending", "Progressing", "Ready", "Degraded", "Failed")


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.reconciles = Counter(
            "llmservice_reconciles",
            "Reconciles of an LLMService, by result (ok, error, invalid, conflict).",
            ["result"],
            registry=r,
        )
        self.errors = Counter(
            "llmservice_reconcile_errors",
            "API errors met while reconciling, by kind (retryable, permanent).",
            ["kind"],
            registry=r,
        )
        self.writes = Counter(
            "llmservice_api_writes",
            "Mutating API requests the operator made, by what they wrote.",
            ["target"],
            registry=r,
        )
        self.duration = Histogram(
            "llmservice_reconcile_duration_seconds",
            "Time one reconcile of an LLMService takes, API calls included.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.phases = Gauge(
            "llmservice_services",
            "LLMServices the operator knows, by phase.",
            ["phase"],
            registry=r,
        )
        self._phase_of: dict[tuple[str, str], str] = {}
        for phase in PHASES:
            self.phases.labels(phase).set(0)

    @contextmanager
    def timed(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.duration.observe(time.perf_counter() - start)

    def set_phase(self, key: tuple[str, str], phase: str | None) -> None:
        """Record the phase of one LLMService (None when it is gone)."""
        old = self._phase_of.pop(key, None)
        if old is not None:
            self.phases.labels(old).dec()
        if phase is not None:
            self._phase_of[key] = phase
            self.phases.labels(phase).inc()

    def serve(self, port: int, addr: str = "0.0.0.0") -> Any:
        """Serve ``/metrics`` on ``port`` from a background thread."""
        return start_http_server(port, addr=addr, registry=self.registry)


METRICS = Metrics()
