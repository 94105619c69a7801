"""Prometheus metrics of one app instance.

Each app gets its own registry, so several apps in one test process do not collide and
/metrics shows only this backend's series (plus the process collectors).
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

PREFIX = "llmservice_backend"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_TPS_BUCKETS = (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000)

# Paths with a fixed name; anything else is counted under one label so that scanners probing
# random URLs cannot blow up the number of series.
KNOWN_ROUTES = frozenset(
    {
        "/",
        "/api/chat",
        "/api/generate",
        "/api/embed",
        "/api/embeddings",
        "/api/show",
        "/api/ps",
        "/api/tags",
        "/api/version",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/models",
        "/healthz",
        "/readyz",
        "/metrics",
    }
)


def route_label(path: str) -> str:
    if path in KNOWN_ROUTES:
        return path
    if path.startswith("/static/"):
        return "/static"
    if path.startswith("/v1/models/"):
        return "/v1/models/{model}"
    return "other"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        self.requests = Counter(
            f"{PREFIX}_requests",
            "HTTP requests answered, by route, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "Time from request to the end of the response (streams included), by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            f"{PREFIX}_upstream_in_flight_requests",
            "Chat requests holding one of the MAX_CONCURRENT_REQUESTS upstream slots.",
            registry=r,
        )
        self.queue_depth = Gauge(
            f"{PREFIX}_queue_depth",
            "Chat requests waiting for an upstream slot.",
            registry=r,
        )
        self.rejected = Counter(
            f"{PREFIX}_rejected_requests",
            "Chat requests turned away before reaching Ollama, by reason.",
            ["reason"],
            registry=r,
        )
        self.ttft_seconds = Histogram(
            f"{PREFIX}_time_to_first_token_seconds",
            "Time from a streaming request to the first piece of the reply, by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens_per_second = Histogram(
            f"{PREFIX}_tokens_per_second",
            "Generation speed of each completed chat (Ollama's eval_count / eval_duration).",
            ["route"],
            buckets=_TPS_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            f"{PREFIX}_tokens",
            "Tokens processed, by kind (prompt or completion).",
            ["kind"],
            registry=r,
        )
        self.upstream_errors = Counter(
            f"{PREFIX}_upstream_errors",
            "Chat requests that failed because of Ollama, by kind.",
            ["kind"],
            registry=r,
        )
        self.client_disconnects = Counter(
            f"{PREFIX}_client_disconnects",
            "Chat requests whose client went away before the reply was complete.",
            registry=r,
        )
        self.slow_clients_dropped = Counter(
            f"{PREFIX}_slow_clients_dropped",
            "Connections closed because the request head or body did not arrive in time, "
            "by part (head or body).",
            ["part"],
            registry=r,
        )
        self.model_ready = Gauge(
            f"{PREFIX}_model_ready",
            "1 when the backend is ready: start-up pull and warm-up done, model present.",
            registry=r,
        )
        self.model_loaded = Gauge(
            f"{PREFIX}_model_loaded",
            "1 when Ollama had the model in memory at the last readiness check, else 0.",
            registry=r,
        )
        self.model_pull_ratio = Gauge(
            f"{PREFIX}_model_pull_completed_ratio",
            "Fraction of the current model pull downloaded (0 to 1).",
            registry=r,
        )

    def slow_clients_dropped_by(self, part: str) -> None:
        self.slow_clients_dropped.labels(part).inc()

    def observe_generation(self, route: str, final: dict[str, object]) -> None:
        """Record the token counts and speed from Ollama's final statistics object."""
        prompt = final.get("prompt_eval_count")
        completion = final.get("eval_count")
        duration = final.get("eval_duration")
        if isinstance(prompt, int):
            self.tokens.labels("prompt").inc(prompt)
        if isinstance(completion, int):
            self.tokens.labels("completion").inc(completion)
            if isinstance(duration, int) and duration > 0 and completion > 0:
                self.tokens_per_second.labels(route).observe(completion / (duration / 1e9))
