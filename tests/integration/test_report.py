"""``llmservice-operator report`` against the local API server, the test playing the cluster.

The test creates an LLMService and the children the operator builds for it, then writes
what kube-controller-manager, the kubelet, the HPA controller and the operator would:
pods (some crash-looping, with restarts), the Ollama sidecar's status, Deployment and HPA
status, and the LLMService status the operator computes from all of that. Every number the
report prints is then compared with what the test wrote.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client
from llmservice_backend.app import create_app
from llmservice_backend.settings import Settings
from llmservice_backend.testing.servers import ThreadedServer
from llmservice_operator import cli
from llmservice_operator.api import naming
from llmservice_operator.api.models import API_GROUP, API_VERSION, PLURAL, LLMService
from llmservice_operator.builders import build_children
from llmservice_operator.core import status
from llmservice_testkit.emulator import controllers, kubeconfig
from llmservice_testkit.emulator.thread import ServerThread
from operator_helpers import install_crd


@pytest.fixture
def api(k8s_api_client: Any) -> Any:
    install_crd(k8s_api_client)
    return k8s_api_client


# --- playing the cluster ----------------------------------------------------------------


def create_llmservice(api: Any, ns: str, name: str, spec: dict[str, Any]) -> LLMService:
    body = {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "LLMService",
        "metadata": {"name": name},
        "spec": spec,
    }
    stored = client.CustomObjectsApi(api).create_namespaced_custom_object(
        API_GROUP, API_VERSION, ns, PLURAL, body
    )
    return LLMService.model_validate(stored)


def create_children(api: Any, service: LLMService, replicas: int) -> None:
    """What the operator applies, then the replica count the HPA (or spec) asks for."""
    ns = service.metadata.namespace
    assert ns is not None
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    for manifest in build_children(service):
        kind = manifest["kind"]
        if kind == "Deployment":
            apps.create_namespaced_deployment(ns, manifest)
        elif kind == "Service":
            core.create_namespaced_service(ns, manifest)
        elif kind == "HorizontalPodAutoscaler":
            client.AutoscalingV2Api(api).create_namespaced_horizontal_pod_autoscaler(ns, manifest)
    apps.patch_namespaced_deployment(service.metadata.name, ns, {"spec": {"replicas": replicas}})


def set_sidecar_status(
    api: Any, ns: str, pod: dict[str, Any], *, ready: bool, restarts: int
) -> dict[str, Any]:
    """The kubelet's report of the Ollama sidecar (controllers.create_pods covers only the
    regular containers)."""
    sidecar = pod["spec"]["initContainers"][0]
    assert sidecar["restartPolicy"] == "Always"
    entry = {
        "name": sidecar["name"],
        "image": sidecar["image"],
        "imageID": "",
        "ready": ready,
        "started": True,
        "restartCount": restarts,
        "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
    }
    core = client.CoreV1Api(api)
    core.patch_namespaced_pod_status(
        pod["metadata"]["name"], ns, {"status": {"initContainerStatuses": [entry]}}
    )
    result: dict[str, Any] = api.sanitize_for_serialization(
        core.read_namespaced_pod(pod["metadata"]["name"], ns)
    )
    return result


def write_operator_status(api: Any, service: LLMService, pods: list[dict[str, Any]]) -> Any:
    """The status the operator computes from the same objects, written as it would."""
    name, ns = service.metadata.name, service.metadata.namespace
    assert ns is not None
    deployment = api.sanitize_for_serialization(
        client.AppsV1Api(api).read_namespaced_deployment(name, ns)
    )
    hpa = None
    if service.spec.autoscaling.enabled:
        hpa = api.sanitize_for_serialization(
            client.AutoscalingV2Api(api).read_namespaced_horizontal_pod_autoscaler(name, ns)
        )
    observed = status.Observed(
        name=name,
        namespace=ns,
        generation=service.metadata.generation or 1,
        spec=service.spec,
        deployment=deployment,
        hpa=hpa,
        pods=pods,
        now=status.format_time(datetime.now(UTC)),
    )
    computed = status.compute_status(observed)
    client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
        API_GROUP, API_VERSION, ns, PLURAL, name, {"status": computed}
    )
    return computed


def report(
    capsys: pytest.CaptureFixture[str], kubeconfig_file: Path, *argv: str
) -> tuple[int, str, str]:
    code = cli.main(["report", *argv, "--kubeconfig", str(kubeconfig_file)])
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(text: str, header: str) -> list[list[str]]:
    """The rows of the table whose header line starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [header])
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


# --- the scenarios ----------------------------------------------------------------------


def test_degraded_service_every_number(
    api: Any, namespace: str, kubeconfig_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    service = create_llmservice(api, namespace, "chat", {"model": {"name": "tinyllama"}})
    create_children(api, service, replicas=3)
    # Two pods ready; the third pod's backend crash-loops (5 restarts, from the helper).
    pods = controllers.create_pods(
        api, namespace, "chat", ready=2, problem="CrashLoopBackOff", container="backend"
    )
    sidecar_restarts = [0, 1, 2]
    pods = [
        set_sidecar_status(api, namespace, pod, ready=True, restarts=n)
        for pod, n in zip(pods, sidecar_restarts, strict=True)
    ]
    controllers.set_deployment_status(api, namespace, "chat", ready=2)
    controllers.set_hpa_status(
        api, namespace, "chat", current_replicas=3, cpu_utilization=55, memory_utilization=41
    )
    written = write_operator_status(api, service, pods)

    code, out, err = report(capsys, kubeconfig_path, "chat", "-n", namespace, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["pods_ready"], data["pods_total"]) == (2, 3)
    # Backend and Ollama sidecar in each pod; the crash-looping backend is not ready.
    assert (data["containers_ready"], data["containers_total"]) == (5, 6)
    assert data["restarts"] == 5 + sum(sidecar_restarts)
    assert [p["restarts"] for p in data["pods"]] == [0, 1, 7]
    assert [p["status"] for p in data["pods"]] == ["Running", "Running", "CrashLoopBackOff"]
    assert (data["desired_replicas"], data["updated_replicas"], data["available_replicas"]) == (
        3,
        3,
        2,
    )
    auto = data["autoscaling"]
    assert (auto["min_replicas"], auto["max_replicas"]) == (2, 6)
    assert (auto["current_replicas"], auto["desired_replicas"], auto["state"]) == (3, 3, "Stable")
    assert auto["utilization"] == [
        {"resource": "cpu", "current": 55, "target": 70},
        {"resource": "memory", "current": 41, "target": 80},
    ]
    assert data["phase"] == written["phase"] == "Degraded"
    assert data["ready"] == "2/3"
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in data["conditions"]] == [
        (c["type"], c["status"], c["reason"], c["message"]) for c in written["conditions"]
    ]
    assert ("Degraded", "True", "CrashLoopBackOff") in [
        (c["type"], c["status"], c["reason"]) for c in data["conditions"]
    ]
    assert data["endpoint"] == f"http://chat.{namespace}.svc:80"
    assert (data["service_type"], data["service_port"]) == ("ClusterIP", 80)
    assert data["missing"] == []
    assert data["probe"] is None

    code, text, _ = report(capsys, kubeconfig_path, "chat", "-n", namespace)
    assert code == 0
    assert "  pods        2/3 ready (desired 3, updated 3, available 2)" in text
    assert "  containers  5/6 ready" in text
    assert "  restarts    8" in text
    assert "  autoscaling 2..6 pods, current 3, desired 3 (Stable)" in text
    assert "cpu       55% of requests (target 70%)" in text
    assert "memory    41% of requests (target 80%)" in text
    assert [row[1:4] for row in table_rows(text, "POD")] == [
        ["2/2", "Running", "0"],
        ["2/2", "Running", "1"],
        ["1/2", "CrashLoopBackOff", "7"],
    ]
    conditions = {row[0]: row[1:3] for row in table_rows(text, "CONDITION")}
    # Two of three pods serve, the floor being 2: ready, and degraded by the third.
    assert conditions["Ready"] == ["True", "MinimumReplicasReady"]
    assert conditions["Degraded"] == ["True", "CrashLoopBackOff"]
    assert f"endpoint    http://chat.{namespace}.svc:80 (Service ClusterIP, port 80)" in text


def test_autoscaler_at_its_maximum(
    api: Any, namespace: str, kubeconfig_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    service = create_llmservice(api, namespace, "busy", {})
    create_children(api, service, replicas=6)
    pods = controllers.create_pods(api, namespace, "busy")
    pods = [set_sidecar_status(api, namespace, p, ready=True, restarts=0) for p in pods]
    controllers.set_deployment_status(api, namespace, "busy")
    controllers.set_hpa_status(
        api,
        namespace,
        "busy",
        current_replicas=6,
        desired_replicas=6,
        cpu_utilization=95,
        memory_utilization=60,
        last_scale_time="2026-01-01T00:00:00Z",
    )
    write_operator_status(api, service, pods)

    code, text, err = report(capsys, kubeconfig_path, "busy", "-n", namespace)
    assert code == 0, err
    # The poster's "12 containers across 0 pods", counted right.
    assert "  pods        6/6 ready (desired 6, updated 6, available 6)" in text
    assert "  containers  12/12 ready" in text
    assert "  restarts    0" in text
    assert "  autoscaling 2..6 pods, current 6, desired 6 (AtMaximum)" in text
    assert "cpu       95% of requests (target 70%)" in text
    assert "last scaled at 2026-01-01T00:00:00Z" in text
    assert "HPA ScalingLimited=True TooManyReplicas" in text
    conditions = {row[0]: row[1:3] for row in table_rows(text, "CONDITION")}
    assert conditions["ScalingLimited"] == ["True", "MaxReplicasReached"]
    assert conditions["Ready"] == ["True", "AllReplicasReady"]


def test_missing_llmservice_is_a_message_not_a_traceback(
    api: Any, namespace: str, kubeconfig_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = report(capsys, kubeconfig_path, "nope", "-n", namespace)
    assert code == 1
    assert out == ""
    assert f"LLMService {namespace}/nope not found" in err
    assert "Traceback" not in err


def test_missing_children_are_named(
    api: Any, namespace: str, kubeconfig_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_llmservice(api, namespace, "lonely", {})
    code, out, err = report(capsys, kubeconfig_path, "lonely", "-n", namespace, "--json")
    assert code == 1
    data = json.loads(out)
    assert data["missing"] == [
        f"Deployment {namespace}/lonely",
        f"Service {namespace}/lonely",
        f"HorizontalPodAutoscaler {namespace}/lonely",
    ]
    assert (data["pods_total"], data["containers_total"]) == (0, 0)
    assert any("no pods match" in n for n in data["notes"])
    assert any("no status yet" in n for n in data["notes"])
    assert f"missing: Deployment {namespace}/lonely" in err


def test_without_autoscaling_no_hpa_is_expected(
    api: Any, namespace: str, kubeconfig_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {"autoscaling": {"enabled": False}, "replicas": 1, "service": {"type": "NodePort"}}
    service = create_llmservice(api, namespace, "fixed", spec)
    create_children(api, service, replicas=1)
    pods = controllers.create_pods(api, namespace, "fixed")
    write_operator_status(api, service, pods)
    code, text, err = report(capsys, kubeconfig_path, "fixed", "-n", namespace)
    assert code == 0, err
    assert "autoscaling off" in text
    assert "missing" not in text
    assert "(Service NodePort, port 80, nodePort " in text


def test_namespace_defaults_to_the_context(
    api: Any, apiserver: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = "report-ctx"
    try:
        client.CoreV1Api(api).create_namespace({"metadata": {"name": ns}})
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    create_llmservice(api, ns, "here", {})
    config = kubeconfig.write(tmp_path / "kubeconfig", apiserver.url, namespace=ns)
    code, out, _ = report(capsys, config, "here", "--json")
    assert code == 1  # no children: but it found the LLMService in the context's namespace
    assert json.loads(out)["namespace"] == ns


# --- --probe through the service proxy --------------------------------------------------


class _ServiceProxy(ThreadingHTTPServer):
    """The local API server plus the one route it does not emulate: the service proxy,
    forwarded to a real backend as the API server would forward it to a pod."""

    def __init__(self, apiserver_url: str, backend_url: str) -> None:
        self.apiserver_url = apiserver_url
        self.backend_url = backend_url
        self.proxied: list[str] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _ServiceProxy

    def _forward(self) -> None:
        path = urllib.parse.unquote(self.path)
        parts = path.split("/")
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        if len(parts) > 7 and parts[5] == "services" and parts[6:8] != [""] and "proxy" in parts:
            at = parts.index("proxy")
            self.server.proxied.append(path)
            target = self.server.backend_url + "/" + "/".join(parts[at + 1 :])
        else:
            target = self.server.apiserver_url + self.path
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
        }
        answer = httpx.request(self.command, target, content=body, headers=headers, timeout=30)
        self.send_response(answer.status_code)
        for key in ("content-type",):
            if key in answer.headers:
                self.send_header(key, answer.headers[key])
        self.send_header("content-length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def proxied_kubeconfig(apiserver: ServerThread, tmp_path: Path) -> Iterator[_ServiceProxy]:
    backend = ThreadedServer(create_app(Settings(), manage_model=False)).start()
    proxy = _ServiceProxy(apiserver.url, backend.url)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    kubeconfig.write(tmp_path / "proxied", proxy.url)
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        backend.stop()


def test_probe_times_healthz_through_the_service_proxy(
    api: Any,
    namespace: str,
    proxied_kubeconfig: _ServiceProxy,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    service = create_llmservice(api, namespace, "probed", {})
    create_children(api, service, replicas=2)
    argv = ["probed", "-n", namespace, "--probe", "--probe-samples", "4", "--json"]
    code, out, err = report(capsys, tmp_path / "proxied", *argv)
    assert code == 0, err
    probe = json.loads(out)["probe"]
    assert (probe["samples"], probe["ok"], probe["failures"]) == (4, 4, [])
    assert 0 < probe["p50_seconds"] <= probe["max_seconds"]
    port_name = f"{naming.service_name('probed')}:http"
    assert (
        proxied_kubeconfig.proxied
        == [f"/api/v1/namespaces/{namespace}/services/{port_name}/proxy/healthz"] * 4
    )


def test_a_failing_probe_is_reported_and_fails_the_command(
    api: Any, namespace: str, kubeconfig_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The local API server has no service proxy: every sample gets its 404.
    service = create_llmservice(api, namespace, "unprobed", {})
    create_children(api, service, replicas=1)
    argv = ["unprobed", "-n", namespace, "--probe", "--probe-samples", "2"]
    code, text, err = report(capsys, kubeconfig_path, *argv)
    assert code == 1
    assert "0/2 ok" in text
    assert "failed: HTTP 404 (x2)" in text
    assert "health check" in err


def test_configuration_problems_are_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = report(capsys, tmp_path / "absent", "chat")
    assert (code, out) == (1, "")
    assert f"--kubeconfig: {tmp_path / 'absent'} does not exist" in err
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = kubeconfig.write(tmp_path / "nowhere", f"http://127.0.0.1:{port}")
    code, out, err = report(capsys, config, "chat")
    assert (code, out) == (1, "")
    assert "cannot reach the Kubernetes API server" in err
    assert "Traceback" not in err
