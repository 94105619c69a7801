"""Running the real operator against the local API server, and playing
kube-controller-manager (and the kubelet) for it: Deployment, HPA and Pod status.

The operator runs as ``python -m llmservice_operator run`` in a subprocess, watching only
the test's namespace, exactly as a user starts it; the tests talk to the API server with
the official client and kubectl.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from llmservice_operator.api import naming
from llmservice_operator.api.models import API_GROUP, API_VERSION, PLURAL
from llmservice_operator.runtime.kube import USER_AGENT

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "crds" / "llmservices.llmservice.dev.yaml"
KUBECTL = shutil.which("kubectl")
T = TypeVar("T")
RUN = "from llmservice_operator.runtime.main import main; raise SystemExit(main())"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def wait_for(
    check: Callable[[], T | None], what: str, timeout: float = 20.0, interval: float = 0.05
) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except ApiException as exc:
            last = exc
            if exc.status != 404:
                raise
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last seen: {last!r}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def install_crd(api_client: Any, strip_rules: bool = False) -> None:
    """Install the LLMService CRD (optionally without its CEL rules, to let through what
    only the operator can reject) and wait until it is served."""
    crd = yaml.safe_load(CRD_PATH.read_text())
    if strip_rules:
        _strip(crd)
    ext = client.ApiextensionsV1Api(api_client)
    try:
        ext.create_custom_resource_definition(crd)
    except ApiException as exc:
        if exc.status != 409:
            raise
    custom = client.CustomObjectsApi(api_client)
    wait_for(
        lambda: custom.list_cluster_custom_object(API_GROUP, API_VERSION, PLURAL) is not None,
        "the LLMService CRD to be served",
    )


def _strip(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("x-kubernetes-validations", None)
        for value in node.values():
            _strip(value)
    elif isinstance(node, list):
        for value in node:
            _strip(value)


class Operator:
    """``llmservice-operator run`` in a subprocess, watching ``namespaces``."""

    def __init__(
        self,
        kubeconfig: Path,
        namespaces: list[str],
        log_path: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.extra_env = dict(extra_env or {})
        self.namespaces = namespaces
        self.log_path = log_path
        self.health_port = free_port()
        self.metrics_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Operator:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "LLMSERVICE_NAMESPACES": ",".join(self.namespaces),
            "LLMSERVICE_HEALTH_HOST": "127.0.0.1",
            "LLMSERVICE_HEALTH_PORT": str(self.health_port),
            "LLMSERVICE_METRICS_PORT": str(self.metrics_port),
            "LLMSERVICE_STATUS_DEBOUNCE": "0.1",
            "LLMSERVICE_STATUS_INTERVAL": "0.3",
            "LLMSERVICE_LOG_LEVEL": "INFO",
            **self.extra_env,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            # What `llmservice-operator run` calls, without the CLI's argument parsing.
            [sys.executable, "-c", RUN],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._healthy, "the operator's liveness endpoint", timeout=30)
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the operator exited:\n{self.logs()}")
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"http://127.0.0.1:{self.health_port}/healthz").is_success
        return False

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics").text

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def kill_and_restart(self) -> None:
        """SIGKILL, as the OOM killer or a lost node would, then a new process."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        self.process = None
        self.start()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


@contextlib.contextmanager
def running_operator(
    kubeconfig: Path,
    namespaces: list[str],
    log_path: Path,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Operator]:
    op = Operator(kubeconfig, namespaces, log_path, extra_env).start()
    try:
        yield op
    finally:
        op.stop()


# --------------------------------------------------------------------------------------
# the API, as the tests use it


class Cluster:
    """Typed shortcuts over the official client for one namespace."""

    def __init__(self, api_client: Any, namespace: str) -> None:
        self.ns = namespace
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.hpas = client.AutoscalingV2Api(api_client)
        self.policy = client.PolicyV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.api_client = api_client

    # LLMServices
    def create(self, name: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "LLMService",
            "metadata": {"name": name},
            "spec": spec or {},
        }
        return dict(
            self.custom.create_namespaced_custom_object(
                API_GROUP, API_VERSION, self.ns, PLURAL, body
            )
        )

    def llms(self, name: str) -> dict[str, Any]:
        return dict(
            self.custom.get_namespaced_custom_object(API_GROUP, API_VERSION, self.ns, PLURAL, name)
        )

    def patch_spec(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return dict(
            self.custom.patch_namespaced_custom_object(
                API_GROUP,
                API_VERSION,
                self.ns,
                PLURAL,
                name,
                {"spec": spec},
                _content_type="application/merge-patch+json",
            )
        )

    def delete_llms(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(API_GROUP, API_VERSION, self.ns, PLURAL, name)

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.llms(name).get("status") or {})

    def condition(self, name: str, type_: str) -> dict[str, Any]:
        for cond in self.status(name).get("conditions") or ():
            if cond["type"] == type_:
                return dict(cond)
        return {}

    def wait_condition(
        self, name: str, type_: str, status: str, reason: str | None = None, timeout: float = 20
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            cond = self.condition(name, type_)
            if cond.get("status") == status and (reason is None or cond.get("reason") == reason):
                return cond
            return None

        return wait_for(check, f"{name} {type_}={status} ({reason})", timeout=timeout)

    # children, raw JSON
    def _raw(self, fn: Callable[..., Any], *args: Any) -> dict[str, Any] | None:
        try:
            import json

            return dict(json.loads(fn(*args, _preload_content=False).data))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def deployment(self, name: str) -> dict[str, Any] | None:
        return self._raw(self.apps.read_namespaced_deployment, name, self.ns)

    def service(self, name: str) -> dict[str, Any] | None:
        return self._raw(self.core.read_namespaced_service, name, self.ns)

    def hpa(self, name: str) -> dict[str, Any] | None:
        return self._raw(self.hpas.read_namespaced_horizontal_pod_autoscaler, name, self.ns)

    def pdb(self, name: str) -> dict[str, Any] | None:
        return self._raw(self.policy.read_namespaced_pod_disruption_budget, name, self.ns)

    def children(self, name: str) -> dict[str, dict[str, Any] | None]:
        return {
            "Deployment": self.deployment(name),
            "Service": self.service(name),
            "HorizontalPodAutoscaler": self.hpa(name),
            "PodDisruptionBudget": self.pdb(name),
        }

    def events(self, reason: str | None = None) -> list[dict[str, Any]]:
        import json

        data = json.loads(self.core.list_namespaced_event(self.ns, _preload_content=False).data)
        return [e for e in data.get("items") or () if reason is None or e.get("reason") == reason]

    # playing kube-controller-manager and the kubelet
    def mark_deployment(self, name: str, ready: int, replicas: int | None = None) -> None:
        dep = self.deployment(name)
        assert dep is not None
        replicas = ready if replicas is None else replicas
        status = {
            "observedGeneration": dep["metadata"].get("generation", 1),
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
        }
        self.apps.patch_namespaced_deployment_status(
            name, self.ns, {"status": status}, _content_type="application/merge-patch+json"
        )

    def set_hpa_status(
        self,
        name: str,
        current: int,
        desired: int,
        cpu: int | None = None,
        limited: str | None = None,
        pods_metrics: dict[str, str] | None = None,
    ) -> None:
        """The HPA's status as its controller writes it; ``pods_metrics`` maps a custom
        metric's name to its average per pod (a quantity, as "2500m")."""
        status: dict[str, Any] = {"currentReplicas": current, "desiredReplicas": desired}
        metrics: list[dict[str, Any]] = []
        if cpu is not None:
            metrics.append(
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "current": {"averageUtilization": cpu}},
                }
            )
        for metric, value in (pods_metrics or {}).items():
            metrics.append(
                {
                    "type": "Pods",
                    "pods": {"metric": {"name": metric}, "current": {"averageValue": value}},
                }
            )
        if metrics:
            status["currentMetrics"] = metrics
        conditions = [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"}]
        if limited:
            conditions.append({"type": "ScalingLimited", "status": "True", "reason": limited})
        status["conditions"] = [
            {**c, "lastTransitionTime": "2026-01-01T00:00:00Z"} for c in conditions
        ]
        self.hpas.patch_namespaced_horizontal_pod_autoscaler_status(
            name, self.ns, {"status": status}, _content_type="application/merge-patch+json"
        )

    def make_pod(
        self,
        owner: str,
        pod_name: str,
        *,
        ready: bool = True,
        backend_state: dict[str, Any] | None = None,
        backend_last_state: dict[str, Any] | None = None,
        scheduled: dict[str, Any] | None = None,
        pod_ip: str | None = None,
    ) -> None:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod_name, "labels": naming.common_labels(owner)},
            "spec": {"containers": [{"name": "backend", "image": "example/backend:1"}]},
        }
        self.core.create_namespaced_pod(self.ns, pod)
        backend: dict[str, Any] = {
            "name": "backend",
            "image": "example/backend:1",
            "imageID": "",
            "ready": ready,
            "restartCount": 0 if backend_state is None else 4,
            "state": backend_state or {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
        }
        if backend_last_state:
            backend["lastState"] = backend_last_state
        conditions = [
            scheduled or {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True" if ready else "False"},
        ]
        status: dict[str, Any] = {
            "phase": "Running" if scheduled is None else "Pending",
            "conditions": [{**c, "lastTransitionTime": "2026-01-01T00:00:00Z"} for c in conditions],
        }
        if scheduled is None:
            status["containerStatuses"] = [backend]
        if pod_ip:
            status["podIP"] = pod_ip
        self.core.patch_namespaced_pod_status(
            pod_name, self.ns, {"status": status}, _content_type="application/merge-patch+json"
        )

    def run_ready(self, name: str, pods: int = 2, hpa: bool = True) -> None:
        """Everything kube-controller-manager and the kubelets do for a healthy service."""
        for i in range(pods):
            self.make_pod(name, f"{name}-pod-{i}")
        if hpa:
            self.set_hpa_status(name, pods, pods)
        self.mark_deployment(name, ready=pods)


def started(cluster: Cluster, name: str = "chat") -> None:
    """Create an LLMService and wait until the operator has made its three children."""
    cluster.create(name)
    wait_for(lambda: all(cluster.children(name).values()), "the three children")


# Fixtures of the operator tests, imported by conftest.py so each test module need not
# declare them again.
@pytest.fixture
def cluster(k8s_api_client: Any, namespace: str) -> Cluster:
    """The test's namespace, with the LLMService CRD installed and served."""
    install_crd(k8s_api_client)
    return Cluster(k8s_api_client, namespace)


@pytest.fixture
def operator(kubeconfig_path: Path, cluster: Cluster, tmp_path: Path) -> Iterator[Operator]:
    """The real operator in a subprocess, watching only the test's namespace."""
    with running_operator(kubeconfig_path, [cluster.ns], tmp_path / "operator.log") as op:
        yield op


def operator_writes(server: Any, since: int = 0) -> list[tuple[str, str]]:
    """The mutating requests the operator (our client or kopf) made, after request ``since``."""

    def collect(api: Any) -> list[tuple[str, str]]:
        out = []
        for i, request in enumerate(list(api)):
            if i < since or not hasattr(request, "method"):
                continue
            agent = str((request.headers or {}).get("User-Agent", ""))
            if str(request.method).upper().rsplit(".", 1)[-1] in MUTATING and (
                agent.startswith(USER_AGENT.split("/")[0]) or agent.startswith("kopf")
            ):
                out.append((str(request.method), str(request.url.path)))
        return out

    return list(server.call(collect))


def request_count(server: Any) -> int:
    return int(server.call(lambda api: sum(1 for r in api if hasattr(r, "method"))))


def kubectl(kubeconfig: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


# --------------------------------------------------------------------------------------
# a starting pod's backend, as the operator asks it about the model


class ReadyzAnswers(http.server.BaseHTTPRequestHandler):
    """A backend's /readyz answering 503 with what the test puts in ``answer``."""

    answer: ClassVar[dict[str, Any]] = {}
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).asked.append(self.path)
        body = json.dumps(type(self).answer).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def readyz_server() -> Iterator[tuple[int, type[ReadyzAnswers]]]:
    """Serve on 127.0.0.1 (port returned) until the block ends; answers start 'starting'."""
    handler = type("Readyz", (ReadyzAnswers,), {"answer": {"phase": "starting"}, "asked": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()
