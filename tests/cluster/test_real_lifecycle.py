"""The operator's lifecycle on the real control plane: real ReplicaSets and scheduled pods,
the real HPA controller (without metrics), real garbage collection, Pod Security admission
enforcing `restricted`, and kubectl as a user types it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from realcluster import ROOT, Cluster, Operator, Real, apply, llms, service_doc, wait_for

pytestmark = pytest.mark.slow
INSTANCE = "app.kubernetes.io/instance"


def pods(real: Real, namespace: str, name: str) -> list[dict[str, Any]]:
    out = real.kubectl("get", "pods", "-n", namespace, "-l", f"{INSTANCE}={name}", "-o", "json")
    return list(json.loads(out.stdout)["items"])


def condition(doc: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in (doc.get("status") or {}).get("conditions") or ():
        if cond["type"] == type_:
            return dict(cond)
    return {}


def wait_condition(
    real: Real, namespace: str, name: str, type_: str, status: str, reason: str | None = None
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        doc = llms(real, namespace, name)
        cond = condition(doc, type_)
        if cond.get("status") == status and reason in (None, cond.get("reason")):
            return doc
        return None

    return wait_for(check, f"llms/{name} {type_}={status} ({reason})")


def test_the_seeds_example_becomes_ready_with_real_replicasets_and_scheduled_pods(
    real: Real, namespace: str, operator: Operator
) -> None:
    doc = yaml.safe_load((ROOT / "examples" / "tinyllama.yaml").read_text())
    # The NodePort is left to the API server: other tests share the control plane.
    doc["spec"]["service"].pop("nodePort")
    apply(real, namespace, doc)
    waited = real.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", "llms/tinyllama", "--timeout=120s",
        check=False,
    )  # fmt: skip
    assert waited.returncode == 0, real.kubectl(
        "describe", "llms/tinyllama", "-n", namespace
    ).stdout

    # kube-controller-manager made a ReplicaSet owned by the Deployment, and the pods; the
    # scheduler bound each pod to a node; PodSecurity admitted them under `restricted`.
    sets = json.loads(real.kubectl("get", "rs", "-n", namespace, "-o", "json").stdout)["items"]
    assert [s["metadata"]["ownerReferences"][0]["name"] for s in sets] == ["tinyllama"]
    running = pods(real, namespace, "tinyllama")
    assert len(running) == 2
    assert all(p["spec"].get("nodeName", "").startswith("node-") for p in running)
    assert all(p["status"]["phase"] == "Running" for p in running)

    status = llms(real, namespace, "tinyllama")["status"]
    assert status["phase"] == "Ready"
    assert status["ready"] == "2/2"
    assert (status["readyReplicas"], status["desiredReplicas"]) == (2, 2)
    assert status["endpoint"] == f"http://tinyllama.{namespace}.svc:80"

    # The real HPA controller has no metrics API here: it reports that it cannot get metrics
    # and keeps the count; the LLMService says so, still Ready.
    def hpa_conditions() -> dict[str, Any] | None:
        out = real.kubectl("get", "hpa", "tinyllama", "-n", namespace, "-o", "json").stdout
        found = {c["type"]: c for c in json.loads(out).get("status", {}).get("conditions", [])}
        return found if "ScalingActive" in found else None

    conditions = wait_for(hpa_conditions, "the HPA controller's ScalingActive condition")
    active = conditions["ScalingActive"]
    assert active["status"] == "False"
    assert active["reason"].startswith("FailedGet")
    auto = wait_for(
        lambda: (a := llms(real, namespace, "tinyllama")["status"]["autoscaling"]).get(
            "state") == "MetricsUnavailable" and a,
        "status.autoscaling to say the autoscaler has no metrics",
    )  # fmt: skip
    assert (auto["minReplicas"], auto["maxReplicas"], auto["currentReplicas"]) == (2, 6, 2)
    assert auto["state"] == "MetricsUnavailable"
    assert "currentCPUUtilizationPercentage" not in auto
    doc = llms(real, namespace, "tinyllama")
    assert doc["status"]["phase"] == "Ready"
    limited = condition(doc, "ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("True", "MetricsUnavailable")


def test_get_llms_columns_scale_and_delete_with_real_garbage_collection(
    real: Real, namespace: str, operator: Operator
) -> None:
    doc = service_doc("fixed", replicas=1, autoscaling={"enabled": False})
    real.kubectl("create", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(doc))
    again = real.kubectl("create", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(doc),
                         check=False)  # fmt: skip
    assert again.returncode != 0
    assert "AlreadyExists" in again.stderr or "already exists" in again.stderr
    wait_condition(real, namespace, "fixed", "Ready", "True")
    table = real.kubectl("get", "llms", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "MODEL", "READY", "DESIRED", "MIN", "MAX", "PHASE", "AGE"]
    assert table[1].split()[:3] == ["fixed", "tinyllama", "1/1"]

    # kubectl scale goes through the /scale subresource; the Deployment follows, the
    # ReplicaSet controller makes the pods, the simulated kubelets make them ready.
    real.kubectl("scale", "-n", namespace, "llms/fixed", "--replicas=3")
    wait_for(
        lambda: llms(real, namespace, "fixed").get("status", {}).get("ready") == "3/3",
        "3/3 pods ready after kubectl scale",
    )
    assert len(pods(real, namespace, "fixed")) == 3
    explained = real.kubectl("explain", "llms.spec.model").stdout
    assert "Ollama" in explained

    real.kubectl("delete", "-n", namespace, "llms/fixed", "--wait=true")

    def gone() -> bool:
        left = real.kubectl(
            "get", "deploy,rs,svc,hpa,pods", "-n", namespace, "-l", f"{INSTANCE}=fixed",
            "-o", "name",
        ).stdout.split()  # fmt: skip
        return not left

    wait_for(gone, "garbage collection of the Deployment, ReplicaSet, Service and pods")


def test_spec_change_rolls_out_a_new_replicaset_and_waits_for_the_new_generation(
    real: Real, namespace: str, cluster: Cluster, operator: Operator
) -> None:
    apply(real, namespace, service_doc("roll", replicas=2, autoscaling={"enabled": False}))
    wait_condition(real, namespace, "roll", "Ready", "True")
    patched = service_doc(
        "roll", replicas=2, autoscaling={"enabled": False},
        backend={"env": [{"name": "LOG_LEVEL", "value": "debug"}]},
    )  # fmt: skip
    apply(real, namespace, patched)
    # kubectl wait for the new generation: Ready with observedGeneration 2 on the condition.
    waited = real.kubectl(
        "wait", "-n", namespace, "llms/roll", "--for=jsonpath={.status.observedGeneration}=2",
        "--timeout=90s",
    )  # fmt: skip
    assert waited.returncode == 0
    doc = wait_condition(real, namespace, "roll", "Ready", "True")
    assert condition(doc, "Ready")["observedGeneration"] == 2
    # The rollout is over when Progressing turns False (RolloutComplete) for generation 2.
    doc = wait_for(
        lambda: (
            (d := llms(real, namespace, "roll"))
            and condition(d, "Progressing").get("reason") == "RolloutComplete"
            and condition(d, "Progressing").get("observedGeneration") == 2
            and d
        ),
        "the rollout of generation 2 to complete",
    )
    sets = json.loads(real.kubectl("get", "rs", "-n", namespace, "-o", "json").stdout)["items"]
    assert len(sets) == 2  # the rollout made a second ReplicaSet
    current = [s for s in sets if s["status"].get("replicas")]
    assert len(current) == 1
    (container,) = [
        c for c in current[0]["spec"]["template"]["spec"]["containers"] if c["name"] == "backend"
    ]
    assert {"name": "LOG_LEVEL", "value": "debug"} in container["env"]


def test_restricted_pod_security_admits_the_pods_and_refuses_a_privileged_one(
    real: Real, namespace: str, operator: Operator
) -> None:
    apply(real, namespace, service_doc("secure", replicas=1, autoscaling={"enabled": False}))
    wait_condition(real, namespace, "secure", "Ready", "True")
    # The same namespace refuses a pod that is not restricted: the check is really on.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "loose"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    refused = real.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(pod), check=False)
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted' in refused.stderr


def test_kubectl_get_watch_reports_the_phase_changes(
    real: Real, namespace: str, operator: Operator, tmp_path: Path
) -> None:
    import subprocess

    from realcluster import KUBECTL

    assert KUBECTL is not None
    out = tmp_path / "watch.txt"
    with out.open("w") as sink:
        watcher = subprocess.Popen(
            [KUBECTL, "--kubeconfig", str(real.kubeconfig), "get", "llms", "-n", namespace,
             "-w", "--output-watch-events"],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            apply(
                real, namespace, service_doc("watched", replicas=1, autoscaling={"enabled": False})
            )
            wait_condition(real, namespace, "watched", "Ready", "True")
            wait_for(lambda: "Ready" in out.read_text(), "kubectl -w to print the Ready row")
        finally:
            watcher.terminate()
            watcher.wait(10)
    rows = [line.split() for line in out.read_text().splitlines() if "watched" in line]
    assert rows[0][0] == "ADDED"
    assert rows[-1][-2] == "Ready"
