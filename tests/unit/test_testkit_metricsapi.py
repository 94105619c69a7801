"""The test metrics API without a control plane: the values a test sets, and the server's
answers and refusals over TLS on loopback (pods from a fixed list)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from llmservice_testkit.cluster import pki
from llmservice_testkit.metricsapi import IN_FLIGHT, QUEUED, MetricValues, quantity
from llmservice_testkit.metricsapi.server import MetricsServer, server_context


def pod(name: str, labels: dict[str, str], phase: str = "Running", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "labels": labels},
        "spec": {"containers": [{"name": "backend"}], **spec},
        "status": {"phase": phase},
    }


# -- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "answered"),
    [(3, "3"), (0, "0"), (2.5, "2500m"), (0.05, "50m"), (4.0, "4"), ("250m", "250m"),
     ("512Mi", "512Mi"), (" 1e3 ", "1e3")],
)  # fmt: skip
def test_values_are_quantities(given: Any, answered: str) -> None:
    assert quantity(given) == answered


@pytest.mark.parametrize(
    ("given", "complaint"),
    [("lots", "not a Kubernetes quantity"), ("3 m", "not a Kubernetes quantity"),
     (0.0001, "thousandths"), (float("nan"), "finite"), (True, "not True")],
)  # fmt: skip
def test_bad_values_are_refused_saying_why(given: Any, complaint: str) -> None:
    with pytest.raises((ValueError, TypeError), match=complaint):
        quantity(given)


def test_a_pods_own_value_wins_then_the_label_set_set_last() -> None:
    values = MetricValues()
    a, b = pod("a", {"app": "chat", "tier": "x"}), pod("b", {"app": "chat"})
    values.set("ns", IN_FLIGHT, 9)
    assert values.for_pod(a, IN_FLIGHT) == "9"
    values.set("ns", IN_FLIGHT, 6, labels={"app": "chat"})
    values.set("ns", IN_FLIGHT, 7, labels={"tier": "x"})
    values.set("ns", IN_FLIGHT, 1, pod="a")
    assert (values.for_pod(a, IN_FLIGHT), values.for_pod(b, IN_FLIGHT)) == ("1", "6")
    values.unset("ns", IN_FLIGHT, pod="a")
    assert values.for_pod(a, IN_FLIGHT) == "7"  # both label sets match: the later one
    values.set("ns", IN_FLIGHT, 5, labels={"app": "chat"})  # set again: now the later one
    assert values.for_pod(a, IN_FLIGHT) == "5"
    assert values.for_pod(a, QUEUED) is None
    assert values.for_pod({**a, "metadata": {**a["metadata"], "namespace": "x"}}, IN_FLIGHT) is None
    values.clear("ns")
    assert values.for_pod(b, IN_FLIGHT) is None


def test_a_value_for_a_pod_and_labels_at_once_is_refused() -> None:
    with pytest.raises(ValueError, match="pod and labels"):
        MetricValues().set("ns", IN_FLIGHT, 1, pod="a", labels={"app": "chat"})
    with pytest.raises(ValueError, match="namespace"):
        MetricValues().set("", IN_FLIGHT, 1)


def test_the_metric_names_are_the_backends_gauges() -> None:
    metrics = pytest.importorskip("llmservice_backend.metrics")
    names = {family.name for family in metrics.Metrics().registry.collect()}
    assert {IN_FLIGHT, QUEUED} <= names


# -- the server over TLS ---------------------------------------------------------------------


class FixedPods:
    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self.pods = pods

    async def list(self, namespace: str | None, label_selector: str) -> list[dict[str, Any]]:
        wanted = dict(p.split("=") for p in label_selector.split(",") if p)
        return [
            p
            for p in self.pods
            if namespace in (None, p["metadata"]["namespace"])
            and all(p["metadata"]["labels"].get(k) == v for k, v in wanted.items())
        ]

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = [p for p in await self.list(namespace, "") if p["metadata"]["name"] == name]
        return found[0] if found else None

    async def close(self) -> None:
        pass


@pytest.fixture
def keys(tmp_path: Path) -> pki.Pki:
    return pki.make(tmp_path / "pki", ["node-0"], "10.96.0.1")


def serve(keys: pki.Pki, values: MetricValues, allowed: tuple[str, ...]) -> MetricsServer:
    cert = pki.serving_certificate(keys, "metrics", "metrics.test", ("127.0.0.1",))
    context = server_context(str(cert), str(cert.with_suffix(".key")), str(keys.front_proxy_ca))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    pods = FixedPods(
        [
            pod(
                "a", {"app": "chat"}, initContainers=[{"name": "ollama", "restartPolicy": "Always"}]
            ),
            pod("b", {"app": "chat"}),
            pod("c", {"app": "chat"}, phase="Pending"),
            pod("z", {"app": "other"}),
        ]
    )
    return MetricsServer(values, pods, sock, context, allowed_names=allowed).start()


@pytest.fixture
def server(keys: pki.Pki) -> Iterator[MetricsServer]:
    running = serve(keys, MetricValues(), ("front-proxy-client",))
    yield running
    running.stop()


def client(keys: pki.Pki, server: MetricsServer, cert: tuple[Path, Path] | None) -> httpx.Client:
    import ssl

    context = ssl.create_default_context(cafile=str(keys.ca_cert))
    if cert:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    headers = {"X-Remote-User": "alice", "X-Remote-Group": "devs"}
    return httpx.Client(
        base_url=f"https://127.0.0.1:{server.port}", verify=context, headers=headers
    )


def front_proxy(keys: pki.Pki) -> tuple[Path, Path]:
    return keys.front_proxy_cert, keys.front_proxy_key


def test_custom_metrics_answer_running_pods_with_a_value(
    keys: pki.Pki, server: MetricsServer
) -> None:
    server.values.set("ns", IN_FLIGHT, 4, labels={"app": "chat"})
    server.values.set("ns", IN_FLIGHT, 1, pod="b")
    base = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns/pods"
    with client(keys, server, front_proxy(keys)) as http:
        listed = http.get(f"{base}/*/{IN_FLIGHT}", params={"labelSelector": "app=chat"}).json()
        assert listed["kind"] == "MetricValueList"
        assert {i["describedObject"]["name"]: i["value"] for i in listed["items"]} == {
            "a": "4",  # c is Pending: not reported; z has no value
            "b": "1",
        }
        assert http.get(f"{base}/b/{IN_FLIGHT}").json()["items"][0]["value"] == "1"
        assert http.get(f"{base}/z/{IN_FLIGHT}").status_code == 404  # no value for it
        assert http.get(f"{base}/*/{QUEUED}").status_code == 404  # never set anywhere
        with_labels = http.get(f"{base}/*/{IN_FLIGHT}", params={"metricLabelSelector": "x=y"})
        assert with_labels.status_code == 400
        services = base.replace("/pods", "/services")
        assert http.get(f"{services}/s/{IN_FLIGHT}").status_code == 404  # only pods
        assert http.get("/openapi/v2").json()["swagger"] == "2.0"  # merged by the API server
    assert server.calls[0].user == "alice"
    assert server.calls[0].groups == ("devs",)


def test_pod_metrics_put_a_pods_total_on_its_first_container(
    keys: pki.Pki, server: MetricsServer
) -> None:
    server.values.set("ns", "cpu", "300m", pod="a")
    server.values.set("ns", "memory", "1Gi", pod="a")
    server.values.set("ns", "cpu", 0.1, pod="b")  # b has no memory value
    with client(keys, server, front_proxy(keys)) as http:
        listed = http.get("/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods").json()
        one = http.get("/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods/z")
    assert listed["kind"] == "PodMetricsList"
    assert {i["metadata"]["name"]: i["containers"] for i in listed["items"]} == {
        "a": [
            {"name": "backend", "usage": {"cpu": "300m", "memory": "1Gi"}},
            {"name": "ollama", "usage": {"cpu": "0", "memory": "0"}},  # a native sidecar
        ],
        "b": [{"name": "backend", "usage": {"cpu": "100m"}}],
    }
    assert one.status_code == 404


def test_only_the_front_proxy_may_call(keys: pki.Pki, server: MetricsServer) -> None:
    server.values.set("ns", IN_FLIGHT, 4)
    path = "/apis/custom.metrics.k8s.io/v1beta2"
    with client(keys, server, None) as http, pytest.raises(httpx.TransportError):
        http.get(path)  # no client certificate: the handshake fails
    other_ca = (keys.kubelet_client_cert, keys.kubelet_client_key)  # the cluster CA's
    with client(keys, server, other_ca) as http, pytest.raises(httpx.TransportError):
        http.get(path)
    assert server.calls == []


def test_a_front_proxy_certificate_with_another_name_is_forbidden(keys: pki.Pki) -> None:
    running = serve(keys, MetricValues(), ("some-other-proxy",))
    try:
        with client(keys, running, front_proxy(keys)) as http:
            answer = http.get("/apis/custom.metrics.k8s.io/v1beta2")
        assert answer.status_code == 403
        assert running.calls == []
    finally:
        running.stop()


# -- where it cannot run ---------------------------------------------------------------------


def test_without_root_the_session_skips_saying_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import os

    from llmservice_testkit.metricsapi import session

    monkeypatch.setattr(session, "KUBECTL", "kubectl")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.skip.Exception, match="no test metrics API here: not root"):
        next(session.start_metrics_session(tmp_path, tmp_path))
