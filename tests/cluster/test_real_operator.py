"""Drift, restarts, degraded pods and RBAC on the real control plane. Writes are counted
from the API server's audit log, under the operator's own ServiceAccount."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from operator_helpers import readyz_server
from realcluster import (
    OPERATOR_USER,
    ROOT,
    Cluster,
    Operator,
    Real,
    apply,
    llms,
    operator_in,
    service_doc,
    wait_for,
)
from test_real_lifecycle import condition, pods, wait_condition

pytestmark = pytest.mark.slow
FAULT = "testkit.llmservice.dev/fault"


def fixed(name: str, replicas: int = 1, **spec: Any) -> dict[str, Any]:
    return service_doc(name, replicas=replicas, autoscaling={"enabled": False}, **spec)


@pytest.mark.parametrize("kind", ["deployment", "service"])
def test_an_edited_or_deleted_child_is_restored(
    real: Real, namespace: str, cluster: Cluster, operator: Operator, kind: str
) -> None:
    apply(real, namespace, fixed("drift"))
    wait_condition(real, namespace, "drift", "Ready", "True")
    if kind == "deployment":
        real.kubectl(
            "patch", "deployment", "drift", "-n", namespace, "--type=json",
            "-p", '[{"op": "replace", "path": "/spec/template/spec/containers/0/image", '
            '"value": "example.org/other:1"}]',
        )  # fmt: skip

        def restored() -> bool:
            dep = cluster.deployment("drift") or {}
            images = [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]]
            return "example.org/other:1" not in images

        wait_for(restored, "the Deployment's image to be restored")
    else:
        uid = (cluster.service("drift") or {})["metadata"]["uid"]
        real.kubectl("delete", "service", "drift", "-n", namespace)
        wait_for(
            lambda: (s := cluster.service("drift")) is not None and s["metadata"]["uid"] != uid,
            "the Service to be recreated",
        )


def test_idle_and_restarted_operator_write_nothing(
    real: Real, namespace: str, tmp_path: Path
) -> None:
    with operator_in(real, [namespace], tmp_path / "first.log"):
        apply(real, namespace, fixed("idle", replicas=2))
        # Settled: AllReplicasReady, not only serving (MinimumReplicasReady): the Deployment
        # controller's own status (updated replicas, observed generation) can trail the
        # pods' readiness by seconds on a loaded machine, and its news is a status write.
        wait_condition(real, namespace, "idle", "Ready", "True", "AllReplicasReady")
        time.sleep(3)  # the last status write settles
        mark = real.audit_mark()
        time.sleep(10)
        assert real.writes(mark) == [], real.explain_writes(mark)
    mark = real.audit_mark()
    with operator_in(real, [namespace], tmp_path / "second.log"):
        wait_for(lambda: real.audit(mark), "the restarted operator's first requests")
        time.sleep(10)
        assert real.writes(mark) == [], real.explain_writes(mark)


def test_a_change_made_while_the_operator_was_down_is_applied_on_resume(
    real: Real, namespace: str, cluster: Cluster, tmp_path: Path
) -> None:
    with operator_in(real, [namespace], tmp_path / "first.log"):
        apply(real, namespace, fixed("resume"))
        wait_condition(real, namespace, "resume", "Ready", "True")
    apply(real, namespace, fixed("resume", replicas=2))
    with operator_in(real, [namespace], tmp_path / "second.log"):
        doc = wait_for(
            lambda: (d := llms(real, namespace, "resume"))["status"].get("ready") == "2/2" and d,
            "the change to be applied after the restart",
        )
        assert doc["status"]["observedGeneration"] == 2


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("CrashLoopBackOff", "CrashLoopBackOff"),
        ("OOMKilled:ollama", "OOMKilled"),
        ("ImagePullBackOff:ollama", "ImagePullBackOff"),
        ("ModelPullFailed", "ModelPullFailed"),
    ],
)
def test_a_failing_pod_is_reported_degraded_and_recovers(
    real: Real, namespace: str, operator: Operator, fault: str, reason: str
) -> None:
    apply(real, namespace, fixed("faulty", pod={"annotations": {FAULT: fault}}))
    doc = wait_condition(real, namespace, "faulty", "Degraded", "True", reason)
    assert doc["status"]["phase"] == "Degraded"
    assert (
        pods(real, namespace, "faulty")[0]["metadata"]["name"]
        in condition(doc, "Degraded")["message"]
    )
    # The fix: a spec without the fault rolls out a healthy pod.
    apply(real, namespace, fixed("faulty", pod={"annotations": {}}))
    doc = wait_condition(real, namespace, "faulty", "Ready", "True")
    assert condition(doc, "Degraded")["status"] == "False"


def test_a_pod_that_recovers_in_place_clears_degraded(
    real: Real, namespace: str, operator: Operator
) -> None:
    """OOMKilled once, then running and ready again in the same pod (its lastState still
    says OOMKilled, as the kubelet keeps it): Ready again at the next pass, with an event."""
    apply(real, namespace, fixed("bounce"))
    wait_condition(real, namespace, "bounce", "Ready", "True")
    # Autoscaling off: the MIN and MAX columns stay empty.
    header, row = real.kubectl("get", "llms", "bounce", "-n", namespace).stdout.splitlines()
    starts = [header.index(word) for word in header.split()]
    cells = [row[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    columns = dict(zip(header.split(), cells, strict=True))
    assert (columns["MIN"], columns["MAX"], columns["READY"]) == ("", "", "1/1")
    (pod,) = pods(real, namespace, "bounce")
    name = pod["metadata"]["name"]
    real.kubectl("annotate", "pod", name, "-n", namespace, f"{FAULT}=OOMKilled:ollama")
    doc = wait_condition(real, namespace, "bounce", "Degraded", "True", "OOMKilled")
    assert doc["status"]["phase"] == "Degraded"
    real.kubectl("annotate", "pod", name, "-n", namespace, f"{FAULT}-")
    doc = wait_condition(real, namespace, "bounce", "Degraded", "False")
    assert doc["status"]["phase"] == "Ready"
    (same,) = pods(real, namespace, "bounce")
    assert same["metadata"]["name"] == name  # recovered in place, not replaced
    (ollama,) = same["status"]["initContainerStatuses"]
    assert ollama["lastState"]["terminated"]["reason"] == "OOMKilled"
    wait_for(
        lambda: real.kubectl(
            "get", "events", "-n", namespace, "--field-selector", "reason=Recovered", "-o", "name"
        ).stdout.strip(),
        "a Recovered event",
    )


def test_pods_waiting_for_a_node_while_one_serves_are_progress(
    real: Real, namespace: str, operator: Operator
) -> None:
    """Each pod asks for 9 of a node's 16 CPUs: one pod fits per simulated node. Scaled
    from 1 to 3, the third waits for a node while the others serve: WaitingForCapacity,
    phase Progressing, not Degraded (the grace is LLMSERVICE_CAPACITY_GRACE, 600 s)."""
    big = {"resources": {"requests": {"cpu": "9", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}}
    apply(real, namespace, fixed("wide", ollama=big))
    wait_condition(real, namespace, "wide", "Ready", "True")
    real.kubectl("scale", "llms/wide", "-n", namespace, "--replicas=3")
    doc = wait_condition(real, namespace, "wide", "Progressing", "True", "WaitingForCapacity")
    assert doc["status"]["phase"] == "Progressing"
    assert condition(doc, "Degraded")["status"] == "False"
    assert "Insufficient cpu" in condition(doc, "Progressing")["message"]
    assert "Degraded from" in condition(doc, "Progressing")["message"]


def test_model_progress_is_read_from_a_starting_pods_backend(
    real: Real, namespace: str, tmp_path: Path
) -> None:
    """The simulated pod reports the address the test chose (127.0.0.1), where a fake
    backend answers /readyz: the operator, under the RBAC of deploy/, shows the download
    in status.model and in ``kubectl get llms -o wide``."""
    pod = {"annotations": {FAULT: "NotReady", "testkit.llmservice.dev/pod-ip": "127.0.0.1"}}
    asking = {"LLMSERVICE_MODEL_PROGRESS_INTERVAL": "0.5"}
    with (
        readyz_server() as (port, backend),
        operator_in(real, [namespace], tmp_path / "op.log", **asking),
    ):
        backend.answer = {"phase": "pulling", "progress": {"percent": 63.0}}
        apply(real, namespace, fixed("slow", backend={"port": port}, pod=pod))

        def summary() -> str | None:
            return (llms(real, namespace, "slow").get("status", {}).get("model") or {}).get(
                "summary"
            )

        wait_for(lambda: summary() == "1 Pulling 60%", "1 Pulling 60%")
        wide = real.kubectl("get", "llms", "slow", "-n", namespace, "-o", "wide").stdout
        assert "1 Pulling 60%" in wide
        backend.answer = {"phase": "warming"}
        wait_for(lambda: summary() == "1 Loading", "1 Loading")


def test_a_pod_no_node_can_take_is_reported_unschedulable(
    real: Real, namespace: str, operator: Operator
) -> None:
    huge = {"resources": {"requests": {"cpu": "100", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}}
    apply(real, namespace, fixed("huge", ollama=huge))
    doc = wait_condition(real, namespace, "huge", "Degraded", "True", "Unschedulable")
    assert "Insufficient cpu" in condition(doc, "Degraded")["message"]


def test_a_child_the_api_server_refuses_is_invalid_spec_and_not_retried(
    real: Real, namespace: str, operator: Operator
) -> None:
    """What the CRD cannot foresee: the node port is free for all the LLMService knows,
    but another Service holds it, so the API server refuses our Service. (The specs this
    test used before, a secretKeyRef without a key among them, are refused at apply now:
    tests/cluster/test_real_bad_specs.py.)"""
    port, field = 31998, "spec.ports[0].nodePort"
    real.kubectl(
        "create", "service", "nodeport", "holder", "--tcp=80:8080", f"--node-port={port}",
        "-n", namespace,
    )  # fmt: skip
    taken = {"type": "NodePort", "nodePort": port}
    apply(real, namespace, fixed("refused", service=taken))
    doc = wait_condition(real, namespace, "refused", "Ready", "False", "InvalidSpec")
    assert doc["status"]["phase"] == "Failed"
    assert doc["status"]["observedGeneration"] == 1
    message = condition(doc, "Ready")["message"]
    assert "the API server refused" in message
    assert field in message
    warnings = real.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "reason=InvalidSpec", "-o", "name"
    ).stdout.split()  # fmt: skip
    assert len(warnings) == 1
    # The Deployment was written before the Service was refused: its pod's readiness is
    # news the status reports (once), not a retry.
    wait_for(
        lambda: llms(real, namespace, "refused")["status"].get("readyReplicas") == 1,
        "the Deployment's pod reported ready",
    )
    # No retry loop: nothing more is written while the spec stays as it is.
    mark = real.audit_mark()
    time.sleep(8)
    assert real.writes(mark) == [], real.explain_writes(mark)
    # A fixed spec is applied at once and becomes Ready.
    apply(real, namespace, fixed("refused"))
    doc = wait_condition(real, namespace, "refused", "Ready", "True")
    assert doc["status"]["observedGeneration"] == 2


# --------------------------------------------------------------------------------------
# RBAC: the shipped roles, through the real authorizer


def _rules(path: Path) -> set[tuple[str, str, str]]:
    doc = yaml.safe_load(path.read_text())
    return {
        (group, resource, verb)
        for rule in doc["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def _used(events: list[dict[str, Any]]) -> tuple[set[tuple[str, str, str]], list[str]]:
    used, refused = set(), []
    for event in events:
        ref = event.get("objectRef") or {}
        resource = ref.get("resource", "")
        if ref.get("subresource"):
            resource += "/" + ref["subresource"]
        code = (event.get("responseStatus") or {}).get("code", 0)
        if code in (401, 403):
            refused.append(f"{event['verb']} {ref.get('apiGroup', '')}/{resource} -> {code}")
        elif resource:
            used.add((ref.get("apiGroup", ""), resource, event["verb"]))
            if event["verb"] == "patch" and code == 201:
                # A server-side apply that creates is audited as a patch answered 201; the
                # authorizer checked `create` for it as well.
                used.add((ref.get("apiGroup", ""), resource, "create"))
    return used, refused


def _served(real: Real, group: str, resource: str) -> bool:
    listed = real.kubectl("api-resources", f"--api-group={group}", "-o", "name").stdout.split()
    return any(name.split(".")[0] == resource for name in listed)


def _lifecycle(real: Real, namespace: str, cluster: Cluster) -> None:
    """Every path the operator has: create, ready, update, autoscaling off and on, one pod
    (no disruption budget) and two again, a network policy and an ingress on and off, a
    claim, a deleted child restored, a name conflict, delete."""
    apply(real, namespace, service_doc("rbac"))
    wait_condition(real, namespace, "rbac", "Ready", "True")
    apply(real, namespace, fixed("rbac", replicas=2))
    wait_for(lambda: cluster.hpa("rbac") is None, "the HPA removed when autoscaling is off")
    apply(real, namespace, fixed("rbac", replicas=1))
    wait_for(lambda: cluster.pdb("rbac") is None, "the budget removed at one pod")
    apply(real, namespace, service_doc("rbac"))
    wait_for(lambda: cluster.hpa("rbac") is not None, "the HPA back")
    wait_for(lambda: cluster.pdb("rbac") is not None, "the budget back")
    claim = {"type": "PersistentVolumeClaim", "size": "1Gi", "accessMode": "ReadWriteMany"}
    apply(real, namespace, service_doc("stored", model={"storage": claim}))
    wait_for(
        lambda: (
            real.kubectl("get", "pvc", "stored-models", "-n", namespace, check=False).returncode
            == 0
        ),
        "the model claim",
    )
    # What shows it to the cluster: a NetworkPolicy and an Ingress (built-in kinds), on and
    # off again. HTTPRoutes and PodMonitors need CRDs this cluster may not serve.
    exposed = {"networkPolicy": {"enabled": True}, "route": {"ingress": {"host": "chat.example"}}}
    apply(real, namespace, service_doc("rbac", **exposed))
    for kind in ("networkpolicy", "ingress"):
        wait_for(
            lambda k=kind: (
                real.kubectl("get", k, "rbac", "-n", namespace, check=False).returncode == 0
            ),
            f"the {kind}",
        )
    # Where the Gateway API's CRDs are installed (another test installs them in this
    # session's cluster), the route is switched to an HTTPRoute too.
    switched = []
    if _served(real, "gateway.networking.k8s.io", "httproutes"):
        route = {"httpRoute": {"parentRefs": [{"name": "gw"}]}}
        apply(real, namespace, service_doc("rbac", networkPolicy={"enabled": True}, route=route))
        switched.append("httproutes.gateway.networking.k8s.io")
        wait_for(
            lambda: (
                real.kubectl("get", switched[0], "rbac", "-n", namespace, check=False).returncode
                == 0
            ),
            "the HTTPRoute",
        )
    apply(real, namespace, service_doc("rbac"))
    for kind in ("networkpolicy", "ingress", *switched):
        wait_for(
            lambda k=kind: (
                "NotFound" in real.kubectl("get", k, "rbac", "-n", namespace, check=False).stderr
            ),
            f"the {kind} deleted",
        )
    real.kubectl("create", "service", "clusterip", "taken", "--tcp=80:80", "-n", namespace)
    apply(real, namespace, service_doc("taken"))
    wait_condition(real, namespace, "taken", "Ready", "False", "NameConflict")
    real.kubectl("delete", "service", "rbac", "-n", namespace)
    wait_for(lambda: cluster.service("rbac"), "the deleted Service restored")
    real.kubectl("delete", "llms", "rbac", "-n", namespace)


def test_the_cluster_role_is_exactly_what_the_operator_uses(
    real: Real, namespace: str, cluster: Cluster, tmp_path: Path
) -> None:
    mark = real.audit_mark()
    with operator_in(real, [namespace], tmp_path / "operator.log"):
        _lifecycle(real, namespace, cluster)
    used, refused = _used(real.audit(mark))
    assert refused == []
    granted = _rules(ROOT / "deploy" / "rbac" / "cluster" / "clusterrole.yaml")
    assert used <= granted, used - granted
    # kopf watches CRDs only when it scans cluster-wide: this operator watches one namespace.
    # HTTPRoutes and PodMonitors exist only where their CRDs are installed.
    unused = granted - used - {("apiextensions.k8s.io", "customresourcedefinitions", v)
                               for v in ("list", "watch")}  # fmt: skip
    unused -= {grant for grant in unused if not _served(real, grant[0], grant[1])}
    assert unused == set()


def test_the_namespaced_role_suffices_in_its_namespace(
    real: Real, namespace: str, cluster: Cluster, tmp_path: Path
) -> None:
    """A ServiceAccount with only deploy/namespaced/role.yaml bound in the test namespace."""
    account = "confined"
    real.kubectl("create", "serviceaccount", account, "-n", namespace)
    role = yaml.safe_load((ROOT / "deploy" / "namespaced" / "role.yaml").read_text())
    role["metadata"]["namespace"] = namespace
    real.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(role))
    real.kubectl(
        "create", "rolebinding", "confined", "-n", namespace, "--role=llmservice-operator",
        f"--serviceaccount={namespace}:{account}",
    )  # fmt: skip
    token = real.kubectl("create", "token", account, "-n", namespace).stdout.strip()
    user = f"system:serviceaccount:{namespace}:{account}"
    config = real.cluster.control_plane.user_kubeconfig(tmp_path / "confined", user, token)
    real_config = real.operator_kubeconfig
    real.operator_kubeconfig = config
    try:
        mark = real.audit_mark()
        with operator_in(real, [namespace], tmp_path / "operator.log"):
            _lifecycle(real, namespace, cluster)
    finally:
        real.operator_kubeconfig = real_config
    used, refused = _used(real.audit(mark, user=user))
    assert refused == []
    assert used <= _rules(ROOT / "deploy" / "namespaced" / "role.yaml")
    assert real.audit(mark, user=OPERATOR_USER) == []
