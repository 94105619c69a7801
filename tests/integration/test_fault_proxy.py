"""The fault proxy the convergence tests put between the operator and the API server: it
fails what it is asked to, forwards the rest unchanged, cuts watches, and counts writes."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import yaml
from llmservice_testkit.emulator.thread import ServerThread
from llmservice_testkit.faultproxy import FaultPlan, FaultProxy

CONFIGMAPS = "/api/v1/namespaces/{ns}/configmaps"


def make_configmap(client: httpx.Client, namespace: str, name: str) -> httpx.Response:
    body = {"metadata": {"name": name}, "data": {"a": "1"}}
    return client.post(CONFIGMAPS.format(ns=namespace), json=body)


def test_without_faults_requests_pass_unchanged_and_writes_are_counted(
    apiserver: ServerThread, namespace: str
) -> None:
    with (
        FaultProxy(apiserver.url, FaultPlan(fraction=0.0)) as proxy,
        httpx.Client(base_url=proxy.url) as http,
    ):
        assert make_configmap(http, namespace, "a").status_code == 201
        got = http.get(f"{CONFIGMAPS.format(ns=namespace)}/a")
        assert got.status_code == 200
        assert got.json()["data"] == {"a": "1"}
        missing = http.get(f"{CONFIGMAPS.format(ns=namespace)}/nope")
        assert missing.status_code == 404  # the server's own answers come through
        (write,) = proxy.writes()
        assert write.startswith(f"POST {CONFIGMAPS.format(ns=namespace)} -> 201 (forwarded)")
        assert '"name": "a"' in write or '"name":"a"' in write  # the body, for diagnosis
        assert sum(proxy.faults().values()) == 0


@pytest.mark.parametrize("kind", ["500", "429", "409"])
def test_an_injected_error_is_a_kubernetes_status_and_never_reaches_the_server(
    apiserver: ServerThread, namespace: str, kind: str
) -> None:
    plan = FaultPlan(fraction=1.0, kinds=(kind,), watch_seconds=None)
    with FaultProxy(apiserver.url, plan) as proxy, httpx.Client(base_url=proxy.url) as http:
        answer = make_configmap(http, namespace, f"f{kind}")
        assert answer.status_code == int(kind)
        assert answer.json()["kind"] == "Status"
        assert answer.json()["code"] == int(kind)
        if kind == "429":
            assert answer.headers["Retry-After"] == "1"
        assert proxy.writes() == []
    direct = httpx.get(f"{apiserver.url}{CONFIGMAPS.format(ns=namespace)}/f{kind}")
    assert direct.status_code == 404


def test_a_read_never_gets_a_conflict(apiserver: ServerThread, namespace: str) -> None:
    plan = FaultPlan(fraction=1.0, kinds=("409",), watch_seconds=None)
    with FaultProxy(apiserver.url, plan) as proxy, httpx.Client(base_url=proxy.url) as http:
        assert http.get(CONFIGMAPS.format(ns=namespace)).status_code == 500


def test_a_hung_request_gets_no_answer_at_all(apiserver: ServerThread, namespace: str) -> None:
    plan = FaultPlan(fraction=1.0, kinds=("hang",), hang_seconds=0.5, watch_seconds=None)
    with FaultProxy(apiserver.url, plan) as proxy, httpx.Client(base_url=proxy.url) as http:
        started = time.monotonic()
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(CONFIGMAPS.format(ns=namespace))
        assert time.monotonic() - started >= 0.5
        assert proxy.faults()["hang"] == 1


def test_a_fraction_fails_and_calm_ends_the_faults(apiserver: ServerThread, namespace: str) -> None:
    plan = FaultPlan(fraction=0.3, kinds=("500",), seed=7)
    with FaultProxy(apiserver.url, plan) as proxy, httpx.Client(base_url=proxy.url) as http:
        codes = [http.get(CONFIGMAPS.format(ns=namespace)).status_code for _ in range(200)]
        failed = codes.count(500)
        assert 30 <= failed <= 90, failed  # 30 % of 200, seeded
        assert set(codes) == {200, 500}
        proxy.calm()
        assert {http.get(CONFIGMAPS.format(ns=namespace)).status_code for _ in range(50)} == {200}


def test_a_watch_is_cut_mid_stream_after_its_time(apiserver: ServerThread, namespace: str) -> None:
    plan = FaultPlan(fraction=0.0, watch_seconds=1.0)
    with FaultProxy(apiserver.url, plan) as proxy, httpx.Client(base_url=proxy.url) as http:
        make_configmap(http, namespace, "w")
        started = time.monotonic()
        lines: list[str] = []

        def read_until_cut() -> None:
            with http.stream(
                "GET", CONFIGMAPS.format(ns=namespace), params={"watch": "true"}, timeout=30
            ) as stream:
                lines.extend(stream.iter_lines())

        with pytest.raises(httpx.HTTPError):
            read_until_cut()
        assert 0.9 <= time.monotonic() - started < 20
        assert any('"ADDED"' in line for line in lines)  # events before the cut came through
        assert proxy.faults()["watch cut"] == 1


def test_the_kubeconfig_keeps_the_identity_and_points_at_the_proxy(tmp_path: Path) -> None:
    source = tmp_path / "in.yaml"
    source.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": "https://127.0.0.1:6443",
                            "certificate-authority": "/ca.crt",
                        },
                    }
                ],
                "users": [{"name": "u", "user": {"token": "secret"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    proxy = FaultProxy("https://127.0.0.1:6443")
    proxy.port = 12345
    written = yaml.safe_load(proxy.kubeconfig(source, tmp_path / "out.yaml").read_text())
    assert written["clusters"][0]["cluster"] == {"server": "http://127.0.0.1:12345"}
    assert written["users"][0]["user"] == {"token": "secret"}
