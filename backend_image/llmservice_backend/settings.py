"""Settings read from the environment.

The variable names are a contract with the operator's Deployment builder: it sets them on the
backend container. Every bad value is reported with the variable's name, all at once, so a
misconfigured pod fails fast with one readable log line instead of misbehaving later.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


class PullPolicy(StrEnum):
    """When the backend pulls its model at start (the same words as a container pullPolicy)."""

    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class SettingsError(ValueError):
    """One or more environment variables hold values the backend cannot use."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


# Ollama accepts keep_alive as a number of seconds or a Go duration ("5m", "1h30m", "-1m").
_GO_DURATION = re.compile(r"^-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
# name[:tag], optionally with a registry host and namespace (registry.example/ns/name:tag).
# The same grammar as the operator's models.MODEL_NAME_PATTERN (a contract test keeps them
# in step): [host[:port]/][namespace/]model[:tag].
_MODEL_REF = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*(:[0-9]+)?(/[A-Za-z0-9][A-Za-z0-9._-]*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?$"
)
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@dataclass(frozen=True)
class Settings:
    """Everything the backend can be told from its environment."""

    ollama_url: str = "http://127.0.0.1:11434"
    model_name: str = "tinyllama"
    model_pull_policy: PullPolicy = PullPolicy.IF_NOT_PRESENT
    model_keep_alive: str = "-1"
    host: str = "0.0.0.0"  # the pod's only entry point is this port
    port: int = 8080
    max_concurrent_requests: int = 4
    max_queued_requests: int = 32
    queue_timeout_seconds: float = 120.0
    api_key: str | None = None
    shutdown_grace_seconds: float = 30.0
    connect_timeout_seconds: float = 5.0
    first_token_timeout_seconds: float = 300.0
    stream_idle_timeout_seconds: float = 120.0
    request_timeout_seconds: float = 900.0
    max_request_body_bytes: int = 1_048_576
    readiness_cache_seconds: float = 2.0
    pull_retry_seconds: float = 10.0
    pull_attempts: int = 4
    termination_message_path: str = "/dev/termination-log"
    log_format: LogFormat = LogFormat.TEXT
    log_level: str = "info"
    access_log: bool = True

    @property
    def keep_alive_value(self) -> str | int | float:
        """keep_alive as Ollama wants it: a bare number means seconds and must be sent as one."""
        return keep_alive_json(self.model_keep_alive)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and check every variable; raise SettingsError listing each bad one."""
        reader = _Reader(env)
        d = cls()
        settings = cls(
            ollama_url=reader.get("OLLAMA_URL", d.ollama_url, _url),
            model_name=reader.get("MODEL_NAME", d.model_name, _model_ref),
            model_pull_policy=reader.get("MODEL_PULL_POLICY", d.model_pull_policy, _pull_policy),
            model_keep_alive=reader.get("MODEL_KEEP_ALIVE", d.model_keep_alive, _keep_alive),
            host=reader.get("BACKEND_HOST", d.host, _non_empty),
            port=reader.get("BACKEND_PORT", d.port, _int_range(1, 65535)),
            max_concurrent_requests=reader.get(
                "MAX_CONCURRENT_REQUESTS", d.max_concurrent_requests, _int_range(1, 100_000)
            ),
            max_queued_requests=reader.get(
                "MAX_QUEUED_REQUESTS", d.max_queued_requests, _int_range(0, 1_000_000)
            ),
            queue_timeout_seconds=reader.get(
                "QUEUE_TIMEOUT_SECONDS", d.queue_timeout_seconds, _seconds(positive=True)
            ),
            api_key=reader.get("API_KEY", None, _api_key),
            shutdown_grace_seconds=reader.get(
                "SHUTDOWN_GRACE_SECONDS", d.shutdown_grace_seconds, _seconds(positive=False)
            ),
            connect_timeout_seconds=reader.get(
                "CONNECT_TIMEOUT_SECONDS", d.connect_timeout_seconds, _seconds(positive=True)
            ),
            first_token_timeout_seconds=reader.get(
                "FIRST_TOKEN_TIMEOUT_SECONDS",
                d.first_token_timeout_seconds,
                _seconds(positive=True),
            ),
            stream_idle_timeout_seconds=reader.get(
                "STREAM_IDLE_TIMEOUT_SECONDS",
                d.stream_idle_timeout_seconds,
                _seconds(positive=True),
            ),
            request_timeout_seconds=reader.get(
                "REQUEST_TIMEOUT_SECONDS", d.request_timeout_seconds, _seconds(positive=True)
            ),
            max_request_body_bytes=reader.get(
                "MAX_REQUEST_BODY_BYTES", d.max_request_body_bytes, _int_range(1024, 1 << 30)
            ),
            readiness_cache_seconds=reader.get(
                "READINESS_CACHE_SECONDS", d.readiness_cache_seconds, _seconds(positive=False)
            ),
            pull_retry_seconds=reader.get(
                "PULL_RETRY_SECONDS", d.pull_retry_seconds, _seconds(positive=True)
            ),
            pull_attempts=reader.get("PULL_ATTEMPTS", d.pull_attempts, _int_range(1, 100)),
            termination_message_path=reader.get(
                "TERMINATION_MESSAGE_PATH", d.termination_message_path, _non_empty
            ),
            log_format=reader.get("LOG_FORMAT", d.log_format, _log_format),
            log_level=reader.get("LOG_LEVEL", d.log_level, _log_level),
            access_log=reader.get("ACCESS_LOG", d.access_log, _bool),
        )
        if reader.problems:
            raise SettingsError(reader.problems)
        return settings


def keep_alive_json(value: str) -> str | int | float:
    """Turn the MODEL_KEEP_ALIVE text into the JSON value Ollama understands."""
    if _NUMBER.match(value):
        number = float(value)
        return int(number) if number.is_integer() else number
    return value


class _Reader:
    """Collects problems instead of stopping at the first one."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def get(self, name: str, default: T, parse: Callable[[str], T]) -> T:
        raw = self.env.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except ValueError as exc:
            self.problems.append(f"{name}={raw!r}: {exc}")
            return default


def _url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "expected an http:// or https:// URL with a host, like http://127.0.0.1:11434"
        )
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"bad port in URL ({exc})") from None
    return raw.rstrip("/")


def _model_ref(raw: str) -> str:
    if not _MODEL_REF.match(raw):
        raise ValueError("expected an Ollama model reference like tinyllama or llama3.2:1b")
    return raw


def _pull_policy(raw: str) -> PullPolicy:
    for policy in PullPolicy:
        if policy.value == raw:
            return policy
    raise ValueError("expected one of Always, IfNotPresent, Never")


def _keep_alive(raw: str) -> str:
    if _NUMBER.match(raw) or _GO_DURATION.match(raw):
        return raw
    raise ValueError("expected seconds (-1 keeps the model loaded) or a duration like 5m or 1h")


def _non_empty(raw: str) -> str:
    return raw


def _api_key(raw: str) -> str:
    if len(raw) < 8:
        raise ValueError("an API key must be at least 8 characters long")
    return raw


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"expected a whole number from {low} to {high}") from None
        if not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return value

    return parse


def _seconds(*, positive: bool) -> Callable[[str], float]:
    bound = "greater than 0" if positive else "0 or more"

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"expected a number of seconds {bound}") from None
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise ValueError(f"expected a number of seconds {bound}")
        return value

    return parse


def _log_format(raw: str) -> LogFormat:
    try:
        return LogFormat(raw.lower())
    except ValueError:
        raise ValueError("expected text or json") from None


def _log_level(raw: str) -> str:
    if raw.lower() not in _LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(_LOG_LEVELS)}")
    return raw.lower()


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")
