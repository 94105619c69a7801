"""Operator settings from the environment, checked once at start.

Every variable starts with ``LLMSERVICE_``; a bad value stops the operator with an error
that names the variable and what it expects, rather than surfacing later as a confusing
failure deep inside kopf.

Watch timeouts follow kopf's advice for long-running operators: a server-side timeout so
the API server closes each watch after a while (and no stream silently hangs for ever), a
slightly longer client-side timeout as the safety net, and a short connect timeout.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

PREFIX = "LLMSERVICE_"
LogFormat = Literal["text", "json"]
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_T = TypeVar("_T")


class SettingsError(ValueError):
    """A setting's value is unusable; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    namespaces: tuple[str, ...] = ()  # empty: every namespace (cluster-wide)
    log_level: int = logging.INFO
    log_format: LogFormat = "text"
    # Whole seconds: the API server reads timeoutSeconds as an integer ("600.0" is a 400).
    watch_server_timeout: int = 600
    watch_client_timeout: float = 660.0
    watch_connect_timeout: float = 60.0
    # kopf lists every watched kind again each time a watch ends (every server timeout);
    # in pages of this many objects, so a thousand Deployments are never in memory at once.
    watch_list_chunk: int = 100
    # every request but a watch: an API server that stops answering one (overloaded, or a
    # connection lost on the way) costs this long before the request is retried, not the
    # five minutes kopf would otherwise wait on a listing
    request_timeout: float = 30.0
    health_host: str = "0.0.0.0"
    health_port: int = 8080
    metrics_port: int = 9090  # 0 turns the metrics endpoint off
    peering_name: str | None = None  # None: standalone, no peering objects needed
    api_workers: int = 8
    status_debounce: float = 0.3
    status_interval: float = 1.0  # least time between two status writes of one LLMService
    # how long a new LLMService may have no status while its pods start (Degraded and
    # Failed are written at once): pods ready by then cost one status write, not two
    first_status_delay: float = 10.0
    # how long pods may wait for a node while others serve before the service is Degraded
    capacity_grace: float = 600.0
    # how long a container restarting after an OOM kill or a failed model pull, not ready
    # yet, still counts as that problem
    restart_window: float = 300.0
    # how often the backends of starting pods are asked how far their model got (status
    # .model); 0 never asks
    model_progress_interval: float = 10.0
    # how often a kind a spec asks for but the cluster lacks (HTTPRoute, PodMonitor: their
    # CRDs not installed) is looked up again (.discovery)
    discovery_recheck: float = 30.0

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(PREFIX + name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _parse(env: Mapping[str, str], name: str, default: _T, parse: Callable[[str], _T]) -> _T:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        return parse(raw)
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"{PREFIX}{name}={raw!r}: {exc}") from None


def _namespaces(raw: str) -> tuple[str, ...]:
    if raw == "*":
        return ()
    names = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    for ns in names:
        if not _NAMESPACE.match(ns) or len(ns) > 63:
            raise ValueError(f"{ns!r} is not a namespace name (a comma-separated list, or *)")
    return names


def _log_level(raw: str) -> int:
    level = logging.getLevelName(raw.upper())
    if not isinstance(level, int):
        raise ValueError("expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return level


def _log_format(raw: str) -> LogFormat:
    lowered = raw.lower()
    if lowered == "text":
        return "text"
    if lowered == "json":
        return "json"
    raise ValueError("expected text or json")


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number of seconds") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError("expected a positive number of seconds")
    return value


def _whole_seconds(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            "expected a whole number of seconds (the API server takes it as an integer)"
        ) from None
    if value <= 0:
        raise ValueError("expected a positive number of seconds")
    return value


def _non_negative_seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number of seconds") from None
    if value < 0 or value != value or value == float("inf"):
        raise ValueError("expected zero or a positive number of seconds")
    return value


def _port(allow_zero: bool) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("expected a port number") from None
        low = 0 if allow_zero else 1
        if not low <= value <= 65535:
            raise ValueError(f"expected a port number from {low} to 65535")
        return value

    return parse


def _workers(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("expected a whole number") from None
    if not 1 <= value <= 256:
        raise ValueError("expected 1 to 256")
    return value


def _chunk(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("expected a whole number of objects per page") from None
    if not 10 <= value <= 10000:
        raise ValueError("expected 10 to 10000 objects per page")
    return value


def _name(raw: str) -> str:
    if not _NAMESPACE.match(raw):
        raise ValueError("expected a DNS label (lowercase letters, digits, '-')")
    return raw


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``env`` (the process environment by default)."""
    env = os.environ if env is None else env
    defaults = Settings()
    server = _parse(env, "WATCH_SERVER_TIMEOUT", defaults.watch_server_timeout, _whole_seconds)
    client_raw = _get(env, "WATCH_CLIENT_TIMEOUT")
    client = _parse(env, "WATCH_CLIENT_TIMEOUT", server * 1.1, _seconds)
    if client <= server:
        raise SettingsError(
            f"{PREFIX}WATCH_CLIENT_TIMEOUT={client_raw or client!r}: must be longer than "
            f"{PREFIX}WATCH_SERVER_TIMEOUT ({server:g} s) so the server ends each watch first"
        )
    return Settings(
        namespaces=_parse(env, "NAMESPACES", defaults.namespaces, _namespaces),
        log_level=_parse(env, "LOG_LEVEL", defaults.log_level, _log_level),
        log_format=_parse(env, "LOG_FORMAT", defaults.log_format, _log_format),
        watch_server_timeout=server,
        watch_client_timeout=client,
        watch_connect_timeout=_parse(
            env, "WATCH_CONNECT_TIMEOUT", defaults.watch_connect_timeout, _seconds
        ),
        watch_list_chunk=_parse(env, "WATCH_LIST_CHUNK", defaults.watch_list_chunk, _chunk),
        request_timeout=_parse(env, "REQUEST_TIMEOUT", defaults.request_timeout, _seconds),
        health_host=_parse(env, "HEALTH_HOST", defaults.health_host, str),
        health_port=_parse(env, "HEALTH_PORT", defaults.health_port, _port(allow_zero=False)),
        metrics_port=_parse(env, "METRICS_PORT", defaults.metrics_port, _port(allow_zero=True)),
        peering_name=_parse(env, "PEERING", defaults.peering_name, _name),
        api_workers=_parse(env, "API_WORKERS", defaults.api_workers, _workers),
        status_debounce=_parse(
            env, "STATUS_DEBOUNCE", defaults.status_debounce, _non_negative_seconds
        ),
        status_interval=_parse(
            env, "STATUS_INTERVAL", defaults.status_interval, _non_negative_seconds
        ),
        first_status_delay=_parse(
            env, "FIRST_STATUS_DELAY", defaults.first_status_delay, _non_negative_seconds
        ),
        capacity_grace=_parse(
            env, "CAPACITY_GRACE", defaults.capacity_grace, _non_negative_seconds
        ),
        restart_window=_parse(
            env, "RESTART_WINDOW", defaults.restart_window, _non_negative_seconds
        ),
        model_progress_interval=_parse(
            env,
            "MODEL_PROGRESS_INTERVAL",
            defaults.model_progress_interval,
            _non_negative_seconds,
        ),
        discovery_recheck=_parse(env, "DISCOVERY_RECHECK", defaults.discovery_recheck, _seconds),
    )
