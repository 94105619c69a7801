"""Settings read from the environment.

The variable names are a contract with the operator's Deployment builder: it sets them on the
backend container. Every bad value is reported with the variable's name, all at once, so a
misconfigured pod fails fast with one readable log line instead of misbehaving later.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

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
# json and pydantic recurse once per level; the interpreter allows 1,000 frames in all.
MAX_JSON_DEPTH_CEILING = 256
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@dataclass(frozen=True, repr=False)
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
    queue_timeout_seconds: float = 600.0
    # Never in a repr, a log line or an error message.
    api_key: str | None = field(default=None, repr=False)
    shutdown_grace_seconds: float = 30.0
    connect_timeout_seconds: float = 5.0
    first_token_timeout_seconds: float = 300.0
    stream_idle_timeout_seconds: float = 120.0
    request_timeout_seconds: float = 1200.0
    max_request_body_bytes: int = 1_048_576
    readiness_cache_seconds: float = 2.0
    pull_retry_seconds: float = 10.0
    pull_attempts: int = 4
    termination_message_path: str = "/dev/termination-log"
    log_format: LogFormat = LogFormat.TEXT
    log_level: str = "info"
    access_log: bool = True
    # Slow clients: the request head (line and headers) and then the whole body must each
    # arrive within these, or the connection is answered 408 and closed.
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 60.0
    keep_alive_timeout_seconds: float = 30.0
    max_json_depth: int = 64
    # /metrics on its own port, which the Service does not expose; 0 serves it on `port`.
    metrics_port: int = 9090
    # Bounds on what a chat request may ask of Ollama (options the model is run with).
    max_num_ctx: int = 8192
    max_num_predict: int = 0  # 0: no bound (REQUEST_TIMEOUT_SECONDS still ends a reply)
    allow_runner_options: bool = False

    def __repr__(self) -> str:
        # The dataclass repr, with the credentials in OLLAMA_URL hidden (api_key has repr=False).
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if f.repr and f.name != "ollama_url"
        )
        return f"Settings(ollama_url={self.ollama_display_url!r}, {shown})"

    @property
    def ollama_display_url(self) -> str:
        """OLLAMA_URL with any user and password replaced by ***: for logs and answers."""
        return redact_url(self.ollama_url)

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
            ollama_url=reader.get(
                "OLLAMA_URL", d.ollama_url, _url, shown=lambda raw: repr(redact_url(raw))
            ),
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
            # Set but blank (an empty Secret value) is an error, not "no authentication".
            api_key=reader.get("API_KEY", None, _api_key, blank_is_default=False, shown=_hidden),
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
            header_timeout_seconds=reader.get(
                "HEADER_TIMEOUT_SECONDS", d.header_timeout_seconds, _seconds(positive=True)
            ),
            body_timeout_seconds=reader.get(
                "BODY_TIMEOUT_SECONDS", d.body_timeout_seconds, _seconds(positive=True)
            ),
            keep_alive_timeout_seconds=reader.get(
                "KEEP_ALIVE_TIMEOUT_SECONDS",
                d.keep_alive_timeout_seconds,
                _seconds(positive=True),
            ),
            max_json_depth=reader.get(
                "MAX_JSON_DEPTH", d.max_json_depth, _int_range(8, MAX_JSON_DEPTH_CEILING)
            ),
            metrics_port=reader.get("METRICS_PORT", d.metrics_port, _int_range(0, 65535)),
            max_num_ctx=reader.get("MAX_NUM_CTX", d.max_num_ctx, _int_range(1, 1 << 24)),
            max_num_predict=reader.get(
                "MAX_NUM_PREDICT", d.max_num_predict, _int_range(0, 1 << 24)
            ),
            allow_runner_options=reader.get("ALLOW_RUNNER_OPTIONS", d.allow_runner_options, _bool),
        )
        if settings.metrics_port != 0 and settings.metrics_port == settings.port:
            reader.problems.append(
                f"METRICS_PORT={settings.metrics_port}: must differ from BACKEND_PORT "
                "(0 serves /metrics on BACKEND_PORT)"
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

    def get(
        self,
        name: str,
        default: T,
        parse: Callable[[str], T],
        *,
        blank_is_default: bool = True,
        shown: Callable[[str], str] = repr,
    ) -> T:
        """The parsed value of name, or default when unset (or blank, if blank_is_default).

        shown turns the raw value into what an error message may repeat (secrets hidden).
        """
        raw = self.env.get(name)
        if raw is None or (blank_is_default and raw.strip() == ""):
            return default
        try:
            return parse(raw.strip())
        except ValueError as exc:
            self.problems.append(f"{name}={shown(raw)}: {exc}")
            return default


def redact_url(url: str) -> str:
    """url with its user and password (if any) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def url_secrets(url: str) -> list[str]:
    """The user-info parts of url (raw and decoded), to scrub from third-party error text."""
    netloc = urlsplit(url).netloc
    if "@" not in netloc:
        return []
    userinfo = netloc.rpartition("@")[0]
    found = {userinfo, unquote(userinfo)}
    for part in userinfo.split(":", 1):
        if len(part) >= 4:  # a short user name like "u" would scrub half of every message
            found.update((part, unquote(part)))
    return sorted(found, key=len, reverse=True)


def _hidden(raw: str) -> str:
    return f"<hidden, {len(raw.strip())} characters>"


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
    if not raw:
        raise ValueError(
            "set but empty (an empty Secret value?): set a key of at least 8 characters, "
            "or leave API_KEY unset to serve without authentication"
        )
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
