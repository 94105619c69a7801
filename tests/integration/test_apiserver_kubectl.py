"""kubectl against the local API server: apply, get (Tables with printer columns), get -w,
wait, scale, delete --wait, explain, server-side apply."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import manifests
import pytest
import yaml
from kubernetes import client
from llmservice_testkit.emulator import ServerThread

pytestmark = pytest.mark.kubectl
KUBECTL = shutil.which("kubectl")
if KUBECTL is None:
    pytest.skip("kubectl is not installed", allow_module_level=True)

DATA = Path(__file__).parent / "apiserver_data"


class Kubectl:
    def __init__(self, kubeconfig: Path, namespace: str, cache: Path) -> None:
        self.base = [
            str(KUBECTL),
            "--kubeconfig",
            str(kubeconfig),
            "--cache-dir",
            str(cache),
            "-n",
            namespace,
        ]

    def __call__(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        done = subprocess.run(
            [*self.base, *args], input=stdin, capture_output=True, text=True, timeout=60
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done.stdout + done.stderr

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*self.base, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )


@pytest.fixture
def kubectl(kubeconfig_path: Path, namespace: str, tmp_path: Path) -> Kubectl:
    tool = Kubectl(kubeconfig_path, namespace, tmp_path / "cache")
    tool("apply", "-f", str(DATA / "widgets-crd.yaml"))
    return tool


WIDGET = """
apiVersion: testing.llmservice.dev/v1
kind: Widget
metadata:
  name: {name}
spec:
  size: 3
  color: {color}
"""


def test_apply_and_get_shows_printer_columns(kubectl: Kubectl) -> None:
    out = kubectl("apply", "-f", "-", stdin=WIDGET.format(name="w1", color="red"))
    assert "widget.testing.llmservice.dev/w1 created" in out
    table = kubectl("get", "widgets").splitlines()
    assert table[0].split() == ["NAME", "COLOR", "REPLICAS", "READY", "AGE"]
    assert table[1].split()[:3] == ["w1", "red", "1"]
    by_short_name = kubectl("get", "wdg", "w1", "-o", "jsonpath={.spec.color}")
    assert by_short_name == "red"
    again = kubectl("apply", "-f", "-", stdin=WIDGET.format(name="w1", color="red"))
    assert "unchanged" in again


def test_apply_rejects_invalid_objects_naming_the_field(kubectl: Kubectl) -> None:
    out = kubectl("apply", "-f", "-", stdin=WIDGET.format(name="bad", color="purple"), check=False)
    assert "spec.color" in out
    assert "Unsupported value" in out


def test_scale_and_wait_for_condition(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=WIDGET.format(name="w2", color="blue"))
    assert "scaled" in kubectl("scale", "widget/w2", "--replicas=3")
    assert kubectl("get", "widget/w2", "-o", "jsonpath={.spec.replicas}") == "3"
    waiter = kubectl.popen("wait", "--for=condition=Ready", "widget/w2", "--timeout=20s")
    time.sleep(0.3)
    kubectl(
        "patch",
        "widget/w2",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}',
    )
    output, _ = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, output
    assert "condition met" in output


def test_get_watch_streams_changes(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=WIDGET.format(name="w3", color="blue"))
    watcher = kubectl.popen("get", "widgets", "-w", "--request-timeout=3s")
    time.sleep(0.5)
    kubectl("patch", "widget/w3", "--type=merge", "-p", '{"spec":{"color":"green"}}')
    output, _ = watcher.communicate(timeout=30)
    lines = [line.split() for line in output.splitlines() if line.startswith("w3")]
    assert lines[0][:2] == ["w3", "blue"]
    assert ["w3", "green"] in [line[:2] for line in lines[1:]]


def test_delete_wait_and_finalizers(kubectl: Kubectl, k8s_api_client: Any, namespace: str) -> None:
    kubectl("apply", "-f", "-", stdin=WIDGET.format(name="w4", color="blue"))
    assert "deleted" in kubectl("delete", "widget/w4", "--wait")
    assert "NotFound" in kubectl("get", "widget/w4", check=False)


def test_explain_uses_the_crd_schema(kubectl: Kubectl) -> None:
    out = kubectl("explain", "widget.spec.color")
    assert "The widget's colour." in out
    assert "blue" in out
    assert "How big the widget is" in kubectl("explain", "widgets.spec")


def test_server_side_apply_of_builtin_kinds(kubectl: Kubectl, namespace: str) -> None:
    manifest = yaml.safe_dump(manifests.deployment("web", 2, [{"name": "c", "image": "nginx:1"}]))
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", "-", stdin=manifest)
    table = kubectl("get", "deployments").splitlines()
    assert table[0].split()[:2] == ["NAME", "READY"]
    assert "scaled" in kubectl("scale", "deployment/web", "--replicas=4")
    assert kubectl("get", "deploy/web", "-o", "jsonpath={.spec.replicas}") == "4"
    assert "deleted" in kubectl("delete", "-f", "-", "--wait", stdin=manifest)


def test_client_side_apply_of_builtin_kinds(
    kubectl: Kubectl, k8s_api_client: Any, namespace: str
) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "svc"},
        "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]},
    }
    assert "created" in kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    manifest["spec"]["ports"] = [{"port": 81}]  # type: ignore[index]
    assert "configured" in kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    svc = client.CoreV1Api(k8s_api_client).read_namespaced_service("svc", namespace)
    assert [p.port for p in svc.spec.ports] == [81]


def test_namespace_deletion_with_kubectl(
    kubectl: Kubectl, apiserver: ServerThread, k8s_api_client: Any
) -> None:
    core = client.CoreV1Api(k8s_api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="doomed")))
    core.create_namespaced_config_map(
        "doomed", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x"))
    )
    assert "deleted" in kubectl("delete", "namespace", "doomed", "--wait")
    assert "NotFound" in kubectl("get", "namespace", "doomed", check=False)
    assert core.list_namespaced_config_map("doomed").items == []


REAL_CRD = Path(__file__).parents[2] / "crds" / "llmservices.llmservice.dev.yaml"
EXAMPLE = Path(__file__).parents[2] / "examples" / "tinyllama.yaml"


def test_the_projects_crd_with_kubectl(kubectl: Kubectl) -> None:
    if not REAL_CRD.exists() or not EXAMPLE.exists():
        pytest.skip("the LLMService CRD or its example is not generated yet")
    kubectl("apply", "-f", str(REAL_CRD))
    assert "created" in kubectl("apply", "-f", str(EXAMPLE))
    header = kubectl("get", "llms").splitlines()[0].split()
    assert header[:7] == ["NAME", "MODEL", "READY", "DESIRED", "MIN", "MAX", "PHASE"]
    row = kubectl("get", "llms", "tinyllama").splitlines()[1].split()
    assert row[:2] == ["tinyllama", "tinyllama"]
    assert "minReplicas" in kubectl("explain", "llmservice.spec.autoscaling")


def test_describe_shows_events_of_the_object(
    kubectl: Kubectl, k8s_api_client: Any, namespace: str
) -> None:
    kubectl("apply", "-f", "-", stdin=WIDGET.format(name="w5", color="green"))
    uid = kubectl("get", "widget/w5", "-o", "jsonpath={.metadata.uid}")
    event: Any = {
        "metadata": {"name": "w5.1"},
        "involvedObject": {
            "apiVersion": "testing.llmservice.dev/v1",
            "kind": "Widget",
            "name": "w5",
            "namespace": namespace,
            "uid": uid,
        },
        "reason": "Polished",
        "message": "the widget shines",
        "type": "Normal",
        "source": {"component": "tests"},
        "count": 1,
    }
    client.CoreV1Api(k8s_api_client).create_namespaced_event(namespace, event)
    described = kubectl("describe", "widget", "w5")
    assert "Color:" in described
    assert "Polished" in described
    assert "the widget shines" in described


def test_get_pods_shows_readiness_and_problems(
    kubectl: Kubectl, k8s_api_client: Any, namespace: str
) -> None:
    from llmservice_testkit.emulator import controllers

    manifest = manifests.deployment("llm", 2, [{"name": "c", "image": "x:1"}])
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    controllers.simulate_deployment(
        k8s_api_client, namespace, "llm", ready=1, problem="CrashLoopBackOff"
    )
    rows = sorted(line.split()[1:4] for line in kubectl("get", "pods").splitlines()[1:])
    assert rows == [["0/1", "CrashLoopBackOff", "5"], ["1/1", "Running", "0"]]
    assert kubectl("get", "deploy", "llm").splitlines()[1].split()[1] == "1/2"
    hpa = manifests.cpu_hpa("llm")
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(hpa))
    controllers.set_hpa_status(
        k8s_api_client, namespace, "llm", current_replicas=2, cpu_utilization=95
    )
    row = kubectl("get", "hpa", "llm").splitlines()[1]
    assert "Deployment/llm" in row
    assert "cpu: 95%/70%" in row
