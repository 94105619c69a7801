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
    redact_url,
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
        ("SHUTDOWN_GRACE_SECONDS", "-5", "0 or more"),
        ("FIRST_TOKEN_TIMEOUT_SECONDS", "0", "greater than 0"),
        ("REQUEST_TIMEOUT_SECONDS", "nan", "greater than 0"),
        ("MAX_REQUEST_BODY_BYTES", "10", "whole number from 1024"),
        ("LOG_FORMAT", "xml", "text or json"),
        ("LOG_LEVEL", "loud", "debug, info"),
        ("ACCESS_LOG", "maybe", "true or false"),
        ("HEADER_TIMEOUT_SECONDS", "0", "greater than 0"),
        ("BODY_TIMEOUT_SECONDS", "soon", "greater than 0"),
        ("KEEP_ALIVE_TIMEOUT_SECONDS", "-1", "greater than 0"),
        ("MAX_JSON_DEPTH", "1000", "whole number from 8 to 256"),
        ("METRICS_PORT", "65536", "whole number from 0 to 65535"),
        ("MAX_NUM_CTX", "0", "whole number from 1"),
        ("MAX_NUM_PREDICT", "-1", "whole number from 0"),
        ("ALLOW_RUNNER_OPTIONS", "sometimes", "true or false"),
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
    assert Settings.from_env({"BACKEND_PORT": " ", "METRICS_PORT": ""}) == Settings()


def test_the_new_limits_have_safe_defaults_and_are_read() -> None:
    d = Settings.from_env({})
    assert (d.header_timeout_seconds, d.body_timeout_seconds) == (10, 60)
    assert (d.keep_alive_timeout_seconds, d.max_json_depth) == (30, 64)
    assert (d.metrics_port, d.max_num_ctx, d.max_num_predict) == (9090, 8192, 0)
    assert d.allow_runner_options is False
    s = Settings.from_env(
        {
            "HEADER_TIMEOUT_SECONDS": "2.5",
            "BODY_TIMEOUT_SECONDS": "20",
            "KEEP_ALIVE_TIMEOUT_SECONDS": "5",
            "MAX_JSON_DEPTH": "16",
            "METRICS_PORT": "0",
            "MAX_NUM_CTX": "2048",
            "MAX_NUM_PREDICT": "512",
            "ALLOW_RUNNER_OPTIONS": "true",
        }
    )
    assert (s.header_timeout_seconds, s.body_timeout_seconds) == (2.5, 20)
    assert (s.keep_alive_timeout_seconds, s.max_json_depth) == (5, 16)
    assert (s.metrics_port, s.max_num_ctx, s.max_num_predict) == (0, 2048, 512)
    assert s.allow_runner_options is True


def test_the_metrics_port_must_not_be_the_serving_port() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"BACKEND_PORT": "9090"})  # METRICS_PORT's default
    assert caught.value.problems == [
        "METRICS_PORT=9090: must differ from BACKEND_PORT (0 serves /metrics on BACKEND_PORT)"
    ]
    assert Settings.from_env({"BACKEND_PORT": "9090", "METRICS_PORT": "0"}).port == 9090


@pytest.mark.parametrize("value", ["", " ", "\t  "])
def test_an_empty_or_blank_api_key_is_refused(value: str) -> None:
    # An empty Secret value sets API_KEY to ""; that must not turn authentication off.
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"API_KEY": value})
    [problem] = caught.value.problems
    assert problem.startswith("API_KEY=<hidden, 0 characters>: set but empty")
    assert "leave API_KEY unset" in problem
    assert Settings.from_env({}).api_key is None  # unset: no authentication, as before


def test_a_short_api_key_is_refused_without_showing_it() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"API_KEY": "s3cret!"})
    [problem] = caught.value.problems
    assert problem == (
        "API_KEY=<hidden, 7 characters>: an API key must be at least 8 characters long"
    )


def test_credentials_never_appear_in_errors_or_the_repr() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"OLLAMA_URL": "http://admin:hunter22@ollama:99999"})
    assert caught.value.problems[0].startswith("OLLAMA_URL='http://***@ollama:99999': bad port")
    s = Settings.from_env(
        {"OLLAMA_URL": "http://admin:hunter22@ollama:11434", "API_KEY": "0123456789abcdef"}
    )
    assert s.ollama_url == "http://admin:hunter22@ollama:11434"  # still used to connect
    assert s.ollama_display_url == "http://***@ollama:11434"
    text = repr(s)
    assert "hunter22" not in text
    assert "admin" not in text
    assert "0123456789abcdef" not in text
    assert "ollama_url='http://***@ollama:11434'" in text
    assert "max_num_ctx=8192" in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:11434", "http://127.0.0.1:11434"),
        ("http://user@ollama:11434", "http://***@ollama:11434"),
        ("https://u%40x:p%3Aw@ollama/base", "https://***@ollama/base"),
        ("http://a:b@c@ollama:1", "http://***@ollama:1"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


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


def test_the_process_refuses_an_empty_api_key() -> None:
    env = {**os.environ, "API_KEY": ""}
    done = subprocess.run(
        [sys.executable, "-m", "llmservice_backend"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "configuration error: API_KEY=<hidden, 0 characters>: set but empty" in done.stderr
