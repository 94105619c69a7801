"""Operator settings from the environment: defaults, parsing, errors naming the variable."""

from __future__ import annotations

import logging

import pytest
from llmservice_operator.runtime.settings import Settings, SettingsError, load


def test_defaults_watch_every_namespace() -> None:
    settings = load({})
    assert settings == Settings()
    assert settings.clusterwide
    assert settings.watch_client_timeout > settings.watch_server_timeout
    assert settings.peering_name is None


def test_everything_can_be_set() -> None:
    settings = load(
        {
            "LLMSERVICE_NAMESPACES": "team-a, team-b,team-a",
            "LLMSERVICE_LOG_LEVEL": "debug",
            "LLMSERVICE_LOG_FORMAT": "JSON",
            "LLMSERVICE_WATCH_SERVER_TIMEOUT": "120",
            "LLMSERVICE_WATCH_CLIENT_TIMEOUT": "150",
            "LLMSERVICE_WATCH_CONNECT_TIMEOUT": "5",
            "LLMSERVICE_HEALTH_PORT": "8081",
            "LLMSERVICE_METRICS_PORT": "0",
            "LLMSERVICE_PEERING": "llmservice",
            "LLMSERVICE_API_WORKERS": "4",
            "LLMSERVICE_STATUS_DEBOUNCE": "0",
            "LLMSERVICE_STATUS_INTERVAL": "2.5",
            "LLMSERVICE_FIRST_STATUS_DELAY": "0",
            "LLMSERVICE_WATCH_LIST_CHUNK": "50",
            "LLMSERVICE_CAPACITY_GRACE": "120",
            "LLMSERVICE_RESTART_WINDOW": "30.5",
            "LLMSERVICE_REQUEST_TIMEOUT": "7.5",
        }
    )
    assert settings.namespaces == ("team-a", "team-b")
    assert not settings.clusterwide
    assert settings.log_level == logging.DEBUG
    assert settings.log_format == "json"
    assert (settings.watch_server_timeout, settings.watch_client_timeout) == (120, 150)
    assert settings.watch_connect_timeout == 5
    assert (settings.health_port, settings.metrics_port) == (8081, 0)
    assert settings.peering_name == "llmservice"
    assert settings.api_workers == 4
    assert settings.status_debounce == 0
    assert settings.status_interval == 2.5
    assert settings.first_status_delay == 0
    assert settings.watch_list_chunk == 50
    assert (settings.capacity_grace, settings.restart_window) == (120, 30.5)
    assert settings.request_timeout == 7.5


def test_star_and_blank_mean_all_namespaces() -> None:
    assert load({"LLMSERVICE_NAMESPACES": "*"}).clusterwide
    assert load({"LLMSERVICE_NAMESPACES": "  "}).clusterwide


def test_client_timeout_follows_the_server_timeout() -> None:
    settings = load({"LLMSERVICE_WATCH_SERVER_TIMEOUT": "100"})
    assert settings.watch_client_timeout > 100


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("NAMESPACES", "Team_A", "not a namespace name"),
        ("LOG_LEVEL", "loud", "DEBUG, INFO"),
        ("LOG_FORMAT", "xml", "text or json"),
        ("WATCH_SERVER_TIMEOUT", "soon", "number of seconds"),
        ("WATCH_SERVER_TIMEOUT", "-1", "positive"),
        # The API server refuses timeoutSeconds=600.0 with a 400: whole seconds only.
        ("WATCH_SERVER_TIMEOUT", "600.5", "whole number of seconds"),
        ("WATCH_CONNECT_TIMEOUT", "0", "positive"),
        ("HEALTH_PORT", "0", "1 to 65535"),
        ("METRICS_PORT", "70000", "0 to 65535"),
        ("METRICS_PORT", "http", "port number"),
        ("PEERING", "Not A Name", "DNS label"),
        ("API_WORKERS", "0", "1 to 256"),
        ("STATUS_DEBOUNCE", "-2", "zero or a positive"),
        ("FIRST_STATUS_DELAY", "later", "number of seconds"),
        ("WATCH_LIST_CHUNK", "5", "10 to 10000"),
        ("CAPACITY_GRACE", "-1", "zero or a positive"),
        ("RESTART_WINDOW", "a while", "number of seconds"),
        ("REQUEST_TIMEOUT", "0", "positive number of seconds"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load({f"LLMSERVICE_{name}": value})
    assert f"LLMSERVICE_{name}=" in str(caught.value)
    assert expected in str(caught.value)


def test_client_timeout_must_outlast_the_server_timeout() -> None:
    with pytest.raises(SettingsError, match="LLMSERVICE_WATCH_CLIENT_TIMEOUT"):
        load({"LLMSERVICE_WATCH_SERVER_TIMEOUT": "60", "LLMSERVICE_WATCH_CLIENT_TIMEOUT": "30"})


def test_kopf_settings_follow_ours() -> None:
    """What the operator asks of kopf: our watch timeouts and list pages, no log lines
    posted as events, short-lived per-object workers, and no diff base (the operator has
    no change handlers; building one deep-copied every watched object on every event)."""
    import kopf
    from llmservice_operator.runtime.main import WORKER_IDLE_SECONDS, NoDiffBase, kopf_settings

    config = load(
        {
            "LLMSERVICE_NAMESPACES": "a,b",
            "LLMSERVICE_WATCH_LIST_CHUNK": "50",
            "LLMSERVICE_REQUEST_TIMEOUT": "5",
        }
    )
    ks = kopf_settings(config)
    assert ks.watching.chunk_size == 50
    # A listing that is never answered is given up after our timeout, not kopf's 5 minutes.
    assert ks.networking.request_timeout == 5
    assert ks.networking.connect_timeout == 5
    assert ks.posting.loggers is False
    assert ks.scanning.disabled is True  # named namespaces: no cluster-scope scanning
    assert ks.queueing.idle_timeout == WORKER_IDLE_SECONDS < 1
    storage = ks.persistence.diffbase_storage
    assert isinstance(storage, NoDiffBase)
    body = kopf.Body({"metadata": {"name": "x"}, "spec": {"big": list(range(100))}})
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
    assert kopf_settings(load({})).scanning.disabled is False  # all namespaces
