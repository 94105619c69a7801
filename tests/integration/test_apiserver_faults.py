"""Fault injection: failing a fraction or a pattern of requests, Retry-After, delays, cut
watch streams. Each test uses a private server so its faults cannot leak."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from llmservice_testkit.emulator import ServerThread
from llmservice_testkit.pytest_plugin import api_client_for


@pytest.fixture
def core(fresh_apiserver: ServerThread) -> client.CoreV1Api:
    api = client.CoreV1Api(api_client_for(fresh_apiserver))
    api.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x"), data={"a": "1"})
    )
    return api


@pytest.mark.parametrize(
    ("status", "reason"), [(409, "Conflict"), (500, "InternalError"), (503, "ServiceUnavailable")]
)
def test_pattern_fails_the_given_number_of_times(
    fresh_apiserver: ServerThread, core: client.CoreV1Api, status: int, reason: str
) -> None:
    fault = fresh_apiserver.faults.fail(r"^PATCH .*/configmaps/x$", status, times=2)
    for _ in range(2):
        with pytest.raises(ApiException) as err:
            core.patch_namespaced_config_map("x", "default", {"data": {"a": "2"}})
        assert err.value.status == status
        assert reason in err.value.body
    # Reads do not match the pattern; the third write gets through.
    assert core.read_namespaced_config_map("x", "default").data == {"a": "1"}
    assert core.patch_namespaced_config_map("x", "default", {"data": {"a": "3"}}).data == {"a": "3"}
    assert fault.hits == 2


def test_429_carries_retry_after(fresh_apiserver: ServerThread, core: client.CoreV1Api) -> None:
    fresh_apiserver.faults.fail(r"^GET .*/configmaps/x$", 429, retry_after=7, times=1)
    response = httpx.get(f"{fresh_apiserver.url}/api/v1/namespaces/default/configmaps/x")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["details"]["retryAfterSeconds"] == 7
    assert httpx.get(f"{fresh_apiserver.url}/api/v1/namespaces/default/configmaps/x").is_success


def test_fraction_fails_some_requests_only(
    fresh_apiserver: ServerThread, core: client.CoreV1Api
) -> None:
    fresh_apiserver.faults.fail(r"^GET .*/configmaps/x$", 500, fraction=0.5)
    with httpx.Client(base_url=fresh_apiserver.url) as http:
        outcomes = [
            http.get("/api/v1/namespaces/default/configmaps/x").status_code for _ in range(40)
        ]
    assert 500 in outcomes
    assert 200 in outcomes
    fresh_apiserver.faults.clear()
    assert httpx.get(f"{fresh_apiserver.url}/api/v1/namespaces/default/configmaps/x").is_success


def test_delay_then_answer(fresh_apiserver: ServerThread, core: client.CoreV1Api) -> None:
    fault = fresh_apiserver.faults.delay(r"^GET .*/configmaps/x$", seconds=0.2, times=1)
    assert core.read_namespaced_config_map("x", "default").data == {"a": "1"}
    assert fault.hits == 1


def test_cut_watches_ends_open_streams(
    fresh_apiserver: ServerThread, core: client.CoreV1Api
) -> None:
    seen: list[str] = []
    started = threading.Event()

    def consume() -> None:
        stream = watch.Watch().stream(
            core.list_namespaced_config_map, "default", timeout_seconds=120
        )
        for event in stream:
            seen.append(event["type"])
            started.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    assert started.wait(10)
    fresh_apiserver.cut_watches()
    thread.join(20)
    assert not thread.is_alive(), "the watch stream did not end when cut"
    assert seen == ["ADDED"]


def test_kubernetes_client_sees_injected_errors_as_api_exceptions(
    fresh_apiserver: ServerThread, core: client.CoreV1Api
) -> None:
    fresh_apiserver.faults.fail(r"^POST ", 500, times=1)
    body: Any = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="y"))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", body)
    assert err.value.status == 500
    assert core.create_namespaced_config_map("default", body).metadata.name == "y"
