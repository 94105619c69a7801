"""The test metrics API on the real control plane: values set from Python come back
through kube-apiserver's aggregation layer, and the real HPA controller scales a plain
Deployment (pods of the simulated nodes) on them, up when they rise and down after the
HPA's own stabilization window when they fall.

Nothing of the operator is involved: this proves the fixture the operator's scaling tests
stand on (``metrics_cluster``, tests/cluster/conftest.py).
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from llmservice_operator.api import quantity
from llmservice_testkit.cluster.session import RealSession, wait_for
from llmservice_testkit.metricsapi import IN_FLIGHT
from realcluster import llms, service_doc

pytestmark = [pytest.mark.slow, pytest.mark.kubectl]

HPA_USER = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
WAIT = 120.0  # the HPA syncs every 5 s; two shared cores


def pod_template(labels: dict[str, str]) -> dict[str, Any]:
    """A pod the restricted Pod Security level admits; the simulated node never runs it."""
    return {
        "metadata": {"name": labels["app"], "labels": labels},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "app",
                    "image": "registry.invalid/app:1",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "runAsUser": 1000,
                    },
                }
            ],
        },
    }


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": pod_template(labels),
        },
    }


def hpa(name: str, metric: dict[str, Any], max_replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1,
            "maxReplicas": max_replicas,
            "metrics": [metric],
            # The default window is 300 s: scaling down within WAIT shows this one is used.
            "behavior": {
                "scaleDown": {
                    "stabilizationWindowSeconds": 5,
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 1}],
                }
            },
        },
    }


def apply(real: RealSession, namespace: str, doc: dict[str, Any]) -> None:
    real.kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(doc))


def get(real: RealSession, namespace: str, kind: str, name: str) -> dict[str, Any]:
    return dict(json.loads(real.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout))


def raw(real: RealSession, path: str) -> dict[str, Any]:
    return dict(json.loads(real.kubectl("get", "--raw", path).stdout))


def running_pods(real: RealSession, namespace: str, selector: str) -> list[str]:
    listed = json.loads(
        real.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json").stdout
    )
    return sorted(
        p["metadata"]["name"]
        for p in listed["items"]
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    )


def wait_running(real: RealSession, namespace: str, selector: str, count: int) -> list[str]:
    return wait_for(
        lambda: (
            (names := running_pods(real, namespace, selector)) and len(names) == count and names
        ),
        f"{count} running pods {selector}",
    )


def values_by_pod(answer: dict[str, Any]) -> dict[str, str]:
    return {i["describedObject"]["name"]: i["value"] for i in answer["items"]}


def scaled_to(real: RealSession, namespace: str, name: str, replicas: int) -> bool:
    """The Deployment wants ``replicas`` and has them all ready."""
    status = get(real, namespace, "deployment", name)
    return bool(
        status["spec"]["replicas"] == replicas
        and status["status"].get("readyReplicas") == replicas
        and status["status"].get("replicas") == replicas
    )


def current(real: RealSession, namespace: str, name: str) -> dict[str, Any]:
    """The HPA's first current metric's ``current`` block (what the controller read)."""
    metrics = get(real, namespace, "hpa", name)["status"].get("currentMetrics") or [{}]
    block = metrics[0].get("pods") or metrics[0].get("resource") or {}
    return dict(block.get("current") or {})


def asked_by_hpa(metrics: Any, path_end: str) -> bool:
    """The HPA controller's request reached the server under its own ServiceAccount (the
    controller manager's --use-service-account-credentials; RBAC let it through)."""
    return any(c.user == HPA_USER and c.path.endswith(path_end) for c in metrics.calls)


def test_custom_metrics_are_served_per_pod_through_the_api_server(
    metrics_cluster: Any, metrics_namespace: str
) -> None:
    real, metrics, ns = metrics_cluster.real, metrics_cluster.metrics, metrics_namespace
    apply(real, ns, deployment("chat", 2))
    other = pod_template({"app": "other"})
    apply(real, ns, {"apiVersion": "v1", "kind": "Pod", **other})
    first, second = wait_running(real, ns, "app=chat", 2)
    wait_running(real, ns, "app=other", 1)
    base = f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{ns}/pods"

    metrics.set(ns, IN_FLIGHT, 9)  # every pod of the namespace
    metrics.set(ns, IN_FLIGHT, 6, labels={"app": "chat"})  # set later: wins for these pods
    metrics.set(ns, IN_FLIGHT, 1.5, pod=first)  # a pod's own value wins over any labels
    selected = raw(real, f"{base}/*/{IN_FLIGHT}?labelSelector={quote('app=chat')}")
    assert selected["kind"] == "MetricValueList"
    assert values_by_pod(selected) == {first: "1500m", second: "6"}
    assert values_by_pod(raw(real, f"{base}/*/{IN_FLIGHT}")) == {
        first: "1500m",
        second: "6",
        "other": "9",
    }
    one = raw(real, f"{base}/{second}/{IN_FLIGHT}")
    assert values_by_pod(one) == {second: "6"}
    assert one["items"][0]["metric"] == {"name": IN_FLIGHT}

    metrics.unset(ns, IN_FLIGHT, pod=first)
    assert values_by_pod(raw(real, f"{base}/{first}/{IN_FLIGHT}")) == {first: "6"}

    # The metric is listed in discovery; an unknown one is NotFound, as an adapter says.
    resources = raw(real, "/apis/custom.metrics.k8s.io/v1beta2")["resources"]
    assert f"pods/{IN_FLIGHT}" in [r["name"] for r in resources]
    unknown = real.kubectl("get", "--raw", f"{base}/*/no_such_metric", check=False)
    assert unknown.returncode != 0
    assert "NotFound" in unknown.stderr or "not found" in unknown.stderr.lower()
    # The server saw the administrator's identity, vouched for by the front proxy.
    calls = [c for c in metrics.calls if c.path == f"{base}/{second}/{IN_FLIGHT}"]
    assert {c.user for c in calls} == {"testkit-admin"}


def test_resource_metrics_are_what_kubectl_top_shows(
    metrics_cluster: Any, metrics_namespace: str
) -> None:
    real, metrics, ns = metrics_cluster.real, metrics_cluster.metrics, metrics_namespace
    apply(real, ns, deployment("chat", 2))
    first, second = wait_running(real, ns, "app=chat", 2)
    metrics.set(ns, "cpu", "250m", labels={"app": "chat"})
    metrics.set(ns, "memory", "300Mi", labels={"app": "chat"})
    metrics.set(ns, "cpu", 0.05, pod=second)

    listed = raw(real, f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods")
    usage = {i["metadata"]["name"]: i["containers"] for i in listed["items"]}
    assert usage == {
        first: [{"name": "app", "usage": {"cpu": "250m", "memory": "300Mi"}}],
        second: [{"name": "app", "usage": {"cpu": "50m", "memory": "300Mi"}}],
    }
    top = real.kubectl("top", "pod", "-n", ns, "--no-headers").stdout.split("\n")
    rows = {line.split()[0]: line.split()[1:] for line in top if line.strip()}
    assert rows == {first: ["250m", "300Mi"], second: ["50m", "300Mi"]}


def test_the_real_hpa_scales_on_a_pods_metric(metrics_cluster: Any, metrics_namespace: str) -> None:
    real, metrics, ns = metrics_cluster.real, metrics_cluster.metrics, metrics_namespace
    target = {"type": "AverageValue", "averageValue": "2"}
    metric = {"type": "Pods", "pods": {"metric": {"name": IN_FLIGHT}, "target": target}}
    metrics.set(ns, IN_FLIGHT, 1, labels={"app": "chat"})
    apply(real, ns, deployment("chat", 1))
    apply(real, ns, hpa("chat", metric, max_replicas=4))
    wait_for(lambda: current(real, ns, "chat").get("averageValue") == "1",
             "the HPA to read 1 request in flight", WAIT)  # fmt: skip
    assert get(real, ns, "deployment", "chat")["spec"]["replicas"] == 1

    metrics.set(ns, IN_FLIGHT, 6, labels={"app": "chat"})  # 3 times the target per pod
    wait_for(lambda: scaled_to(real, ns, "chat", 4), "the HPA to scale up to 4", WAIT)
    wait_for(lambda: current(real, ns, "chat").get("averageValue") == "6",
             "the HPA to read 6 per pod on 4 pods", WAIT)  # fmt: skip
    assert asked_by_hpa(metrics, f"/namespaces/{ns}/pods/*/{IN_FLIGHT}")

    metrics.set(ns, IN_FLIGHT, 0.5, labels={"app": "chat"})
    wait_for(lambda: scaled_to(real, ns, "chat", 1), "the HPA to scale down to 1", WAIT)


def test_the_real_hpa_scales_on_cpu_utilization(
    metrics_cluster: Any, metrics_namespace: str
) -> None:
    real, metrics, ns = metrics_cluster.real, metrics_cluster.metrics, metrics_namespace
    target = {"type": "Utilization", "averageUtilization": 50}
    metric = {"type": "Resource", "resource": {"name": "cpu", "target": target}}
    metrics.set(ns, "cpu", "20m", labels={"app": "chat"})  # 20 % of the 100m requested
    apply(real, ns, deployment("chat", 1))
    apply(real, ns, hpa("chat", metric, max_replicas=3))
    wait_for(lambda: current(real, ns, "chat").get("averageUtilization") == 20,
             "the HPA to read 20 % CPU", WAIT)  # fmt: skip

    metrics.set(ns, "cpu", "200m", labels={"app": "chat"})
    wait_for(lambda: scaled_to(real, ns, "chat", 3), "the HPA to scale up to 3", WAIT)
    wait_for(lambda: current(real, ns, "chat").get("averageUtilization") == 200,
             "the HPA to read 200 % CPU", WAIT)  # fmt: skip
    assert asked_by_hpa(metrics, f"/namespaces/{ns}/pods")

    metrics.set(ns, "cpu", "10m", labels={"app": "chat"})
    wait_for(lambda: scaled_to(real, ns, "chat", 1), "the HPA to scale down to 1", WAIT)


def pod_requests(template: dict[str, Any], resource: str) -> Fraction:
    """What the HPA divides usage by: the requests of the containers and native sidecars."""
    spec = template["spec"]
    containers = spec["containers"] + [
        c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"
    ]
    return sum((quantity.value(c["resources"]["requests"][resource]) for c in containers),
               Fraction(0))  # fmt: skip


def test_the_operators_hpa_reads_the_values_of_its_pods(
    metrics_cluster: Any, metrics_namespace: str, metrics_operator: Any
) -> None:
    """The operator's pods (a backend and an Ollama sidecar) as the metrics API reports
    them: the LLMService's status shows the utilization the values make."""
    real, metrics, ns = metrics_cluster.real, metrics_cluster.metrics, metrics_namespace
    auto = {"minReplicas": 1, "maxReplicas": 2}
    apply(real, ns, service_doc("chat", autoscaling=auto))
    template = wait_for(
        lambda: get(real, ns, "deployment", "chat")["spec"]["template"], "the Deployment"
    )
    cpu, memory = pod_requests(template, "cpu"), pod_requests(template, "memory")
    chat = {"app.kubernetes.io/instance": "chat"}
    metrics.set(ns, "cpu", f"{int(cpu * 1000 * 2)}m", labels=chat)  # 200 % of the requests
    metrics.set(ns, "memory", int(memory / 4), labels=chat)  # 25 %

    def reported() -> dict[str, Any] | None:
        status = llms(real, ns, "chat").get("status") or {}
        autoscaling = status.get("autoscaling") or {}
        wanted = {"currentCPUUtilizationPercentage": 200, "currentMemoryUtilizationPercentage": 25}
        return autoscaling if wanted.items() <= autoscaling.items() else None

    wait_for(reported, "the LLMService to report 200 % CPU and 25 % memory", WAIT)
    wait_for(lambda: scaled_to(real, ns, "chat", 2), "the HPA to scale up to 2", WAIT)
