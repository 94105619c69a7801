"""Settings from the environment: the agreed names, defaults, and bad values named."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from llmservice_backend.settings import (
    LogFormat,
    PullPolicy,
    Settings,
    SettingsError,
    keep_alive_json,
)


def test_defaults_without_any_variable() -> None:
    s = Settings.from_env({})
    assert s.ollama_url == "http://127.0.0.1:11434"
    assert s.model_name == "tinyllama"
    assert s.model_pull_policy is PullPolicy.IF_NOT_PRESENT
    assert s.model_keep_alive == "-1"
    assert s.port == 8080
    assert s.max_concurrent_requests == 4
    assert s.max_queued_requests == 32
    assert s.api_key is None
    assert s.log_format is LogFormat.TEXT


def test_every_agreed_variable_is_read() -> None:
    s = Settings.from_env(
        {
            "OLLAMA_URL": "http://ollama:11434/",
            "MODEL_NAME": "llama3.2:1b",
            "MODEL_PULL_POLICY": "Never",
            "MODEL_KEEP_ALIVE": "10m",
            "BACKEND_PORT": "9000",
            "MAX_CONCURRENT_REQUESTS": "8",
            "MAX_QUEUED_REQUESTS": "0",
            "API_KEY": "0123456789abcdef",
            "SHUTDOWN_GRACE_SECONDS": "45",
            "CONNECT_TIMEOUT_SECONDS": "2",
            "FIRST_TOKEN_TIMEOUT_SECONDS": "60",
            "STREAM_IDLE_TIMEOUT_SECONDS": "30",
            "REQUEST_TIMEOUT_SECONDS": "600",
            "MAX_REQUEST_BODY_BYTES": "65536",
            "READINESS_CACHE_SECONDS": "0",
            "LOG_FORMAT": "json",
            "ACCESS_LOG": "false",
        }
    )
    assert s.ollama_url == "http://ollama:11434"
    assert s.model_name == "llama3.2:1b"
    assert s.model_pull_policy is PullPolicy.NEVER
    assert s.keep_alive_value == "10m"
    assert (s.port, s.max_concurrent_requests, s.max_queued_requests) == (9000, 8, 0)
    assert s.api_key == "0123456789abcdef"
    assert s.shutdown_grace_seconds == 45
    assert (s.connect_timeout_seconds, s.first_token_timeout_seconds) == (2, 60)
    assert (s.stream_idle_timeout_seconds, s.request_timeout_seconds) == (30, 600)
    assert s.max_request_body_bytes == 65536
    assert s.readiness_cache_seconds == 0
    assert s.log_format is LogFormat.JSON
    assert s.access_log is False


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("OLLAMA_URL", "localhost:11434", "http:// or https:// URL"),
        ("OLLAMA_URL", "http://host:99999", "bad port"),
        ("MODEL_NAME", "bad name!", "model reference"),
        ("MODEL_PULL_POLICY", "always", "Always, IfNotPresent, Never"),
        ("MODEL_KEEP_ALIVE", "forever", "duration"),
        ("BACKEND_PORT", "http", "whole number from 1 to 65535"),
        ("BACKEND_PORT", "70000", "whole number from 1 to 65535"),
        ("MAX_CONCURRENT_REQUESTS", "0", "whole number from 1"),
        ("MAX_QUEUED_REQUESTS", "-1", "whole number from 0"),
        ("API_KEY", "short", "at least 8 characters"),
        ("SHUTDOWN_GRACE_SECONDS", "-5", "0 or more"),
        ("FIRST_TOKEN_TIMEOUT_SECONDS", "0", "greater than 0"),
        ("REQUEST_TIMEOUT_SECONDS", "nan", "greater than 0"),
        ("MAX_REQUEST_BODY_BYTES", "10", "whole number from 1024"),
        ("LOG_FORMAT", "xml", "text or json"),
        ("LOG_LEVEL", "loud", "debug, info"),
        ("ACCESS_LOG", "maybe", "true or false"),
    ],
)
def test_a_bad_value_is_named(name: str, value: str, words: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: value})
    assert len(caught.value.problems) == 1
    problem = caught.value.problems[0]
    assert problem.startswith(f"{name}={value!r}: ")
    assert words in problem


def test_all_bad_values_are_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"BACKEND_PORT": "x", "MODEL_PULL_POLICY": "x", "LOG_FORMAT": "x"})
    assert [p.split("=")[0] for p in caught.value.problems] == [
        "MODEL_PULL_POLICY",
        "BACKEND_PORT",
        "LOG_FORMAT",
    ]


def test_empty_values_mean_the_default() -> None:
    assert Settings.from_env({"API_KEY": "", "BACKEND_PORT": " "}) == Settings()


@pytest.mark.parametrize(
    ("text", "value"), [("-1", -1), ("300", 300), ("1.5", 1.5), ("5m", "5m"), ("1h30m", "1h30m")]
)
def test_keep_alive_is_a_number_when_it_is_one(text: str, value: object) -> None:
    assert keep_alive_json(text) == value


def test_the_process_exits_non_zero_naming_the_variable() -> None:
    env = {**os.environ, "MAX_CONCURRENT_REQUESTS": "lots", "MODEL_PULL_POLICY": "Sometimes"}
    done = subprocess.run(
        [sys.executable, "-m", "llmservice_backend"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "configuration error: MAX_CONCURRENT_REQUESTS='lots'" in done.stderr
    assert "configuration error: MODEL_PULL_POLICY='Sometimes'" in done.stderr
