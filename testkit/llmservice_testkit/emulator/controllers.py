"""Play kube-controller-manager (and the kubelet) in tests: write the status a cluster would.

Plain functions over the official kubernetes client, so the same test code runs against the
local API server and against a real cluster. Nothing runs in the background: a test calls
``simulate_deployment`` when it wants the world to have moved on.

Pod problems a test can ask for, on the pods that are not ready:

- ``"NotReady"``: running, readiness probe failing;
- ``"CrashLoopBackOff"``: the container keeps exiting (restartCount grows);
- ``"ImagePullBackOff"`` / ``"ErrImagePull"``: the image cannot be pulled;
- ``"OOMKilled"``: the last run was killed for memory, now waiting in CrashLoopBackOff;
- ``"Unschedulable"``: Pending, never scheduled (no node fits).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any, Literal

from kubernetes import client

PodProblem = Literal[
    "NotReady", "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "OOMKilled",
    "Unschedulable",
]  # fmt: skip
PROBLEMS: tuple[str, ...] = (
    "NotReady", "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "OOMKilled",
    "Unschedulable",
)  # fmt: skip


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(kind: str, ok: bool, reason: str, message: str = "") -> dict[str, Any]:
    stamp = _now()
    return {
        "type": kind,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": stamp,
        "lastUpdateTime": stamp,
    }


def _template_hash(template: Any) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def _as_dict(api_client: client.ApiClient, obj: Any) -> dict[str, Any]:
    serialize: Any = api_client.sanitize_for_serialization
    result: dict[str, Any] = serialize(obj)
    return result


def desired_replicas(deployment: dict[str, Any]) -> int:
    return int((deployment.get("spec") or {}).get("replicas", 1))


def set_deployment_status(
    api_client: client.ApiClient,
    namespace: str,
    name: str,
    *,
    ready: int | None = None,
    problem: PodProblem | None = None,
) -> dict[str, Any]:
    """Status for ``name`` as the deployment controller would write it.

    ``ready`` pods out of ``spec.replicas`` (all by default); ``problem`` only shapes the
    Progressing condition's message here (pods carry the details: see ``create_pods``).
    """
    apps = client.AppsV1Api(api_client)
    deployment = _as_dict(api_client, apps.read_namespaced_deployment(name, namespace))
    replicas = desired_replicas(deployment)
    ready = replicas if ready is None else max(0, min(ready, replicas))
    all_ready = ready == replicas
    status: dict[str, Any] = {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "unavailableReplicas": replicas - ready,
        "conditions": [
            _condition(
                "Available",
                all_ready or ready > 0,
                "MinimumReplicasAvailable" if all_ready or ready > 0
                else "MinimumReplicasUnavailable",
                "Deployment has minimum availability." if all_ready or ready > 0
                else "Deployment does not have minimum availability.",
            ),
            _condition(
                "Progressing",
                True,
                "NewReplicaSetAvailable" if all_ready else "ReplicaSetUpdated",
                f'ReplicaSet "{name}" has successfully progressed.' if all_ready
                else f'ReplicaSet "{name}" is progressing'
                + (f" ({problem})" if problem else "") + ".",
            ),
        ],
    }  # fmt: skip
    if ready == 0:
        status.pop("readyReplicas")
        status.pop("availableReplicas")
    if replicas == ready:
        status.pop("unavailableReplicas")
    result = apps.patch_namespaced_deployment_status(name, namespace, {"status": status})
    return _as_dict(api_client, result)


def _container_status(
    container: dict[str, Any], ready: bool, problem: str | None, started: str
) -> dict[str, Any]:
    image = container.get("image", "")
    status: dict[str, Any] = {
        "name": container["name"],
        "image": image,
        "imageID": "",
        "ready": ready,
        "started": ready,
        "restartCount": 0,
        "state": {"running": {"startedAt": started}},
    }
    if ready or problem in (None, "NotReady"):
        if not ready:
            status["started"] = True
        status["containerID"] = f"containerd://{hashlib.sha256(image.encode()).hexdigest()}"
        return status
    if problem == "CrashLoopBackOff":
        status["restartCount"] = 5
        status["state"] = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off 5m0s restarting failed container={container['name']}",
            }
        }
        status["lastState"] = {
            "terminated": {
                "exitCode": 1,
                "reason": "Error",
                "startedAt": started,
                "finishedAt": started,
            }
        }
    elif problem in ("ImagePullBackOff", "ErrImagePull"):
        status["state"] = {
            "waiting": {"reason": problem, "message": f'Back-off pulling image "{image}"'}
        }
    elif problem == "OOMKilled":
        status["restartCount"] = 3
        status["state"] = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off 40s restarting failed container={container['name']}",
            }
        }
        status["lastState"] = {
            "terminated": {
                "exitCode": 137,
                "reason": "OOMKilled",
                "startedAt": started,
                "finishedAt": started,
            }
        }
    return status  # fmt: skip


def pod_status(
    template_spec: dict[str, Any],
    ready: bool,
    problem: PodProblem | None = None,
    container: str | None = None,
) -> dict[str, Any]:
    """A pod's status as the kubelet reports it; ``problem`` hits ``container`` (or all)."""
    started = _now()
    if not ready and problem == "Unschedulable":
        return {
            "phase": "Pending",
            "qosClass": "Burstable",
            "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient memory.",
                "lastTransitionTime": started,
            }],
        }  # fmt: skip
    statuses = []
    for c in template_spec.get("containers") or []:
        hit = not ready and (container is None or c["name"] == container)
        statuses.append(_container_status(c, not hit and True, problem if hit else None, started))
    all_ready = all(s["ready"] for s in statuses)
    conditions = [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
        {"type": "Initialized", "status": "True", "lastTransitionTime": started},
        {"type": "ContainersReady", "status": "True" if all_ready else "False",
         "lastTransitionTime": started,
         **({} if all_ready else {"reason": "ContainersNotReady"})},
        {"type": "Ready", "status": "True" if all_ready else "False",
         "lastTransitionTime": started,
         **({} if all_ready else {"reason": "ContainersNotReady"})},
    ]  # fmt: skip
    return {
        "phase": "Running",
        "qosClass": "Burstable",
        "hostIP": "10.0.0.1",
        "podIP": "10.244.0.10",
        "startTime": started,
        "conditions": conditions,
        "containerStatuses": statuses,
    }


def create_pods(
    api_client: client.ApiClient,
    namespace: str,
    deployment_name: str,
    *,
    ready: int | None = None,
    problem: PodProblem | None = None,
    container: str | None = None,
) -> list[dict[str, Any]]:
    """Replace the Deployment's pods with ``spec.replicas`` new ones (via a ReplicaSet).

    The first ``ready`` pods are Ready; the others show ``problem`` (``NotReady`` by default)
    in ``container`` (every container by default).
    """
    if problem is not None and problem not in PROBLEMS:
        raise ValueError(f"unknown pod problem {problem!r}; one of {', '.join(PROBLEMS)}")
    apps = client.AppsV1Api(api_client)
    core = client.CoreV1Api(api_client)
    deployment = _as_dict(api_client, apps.read_namespaced_deployment(deployment_name, namespace))
    replicas = desired_replicas(deployment)
    ready = replicas if ready is None else max(0, min(ready, replicas))
    template = deployment["spec"]["template"]
    pod_hash = _template_hash(template)
    rs_name = f"{deployment_name}-{pod_hash}"
    labels = {**(template.get("metadata") or {}).get("labels", {}), "pod-template-hash": pod_hash}
    selector = dict(deployment["spec"]["selector"].get("matchLabels") or {})

    def owner(kind: str, obj: dict[str, Any], api_version: str) -> dict[str, Any]:
        return {"apiVersion": api_version, "kind": kind, "name": obj["metadata"]["name"],
                "uid": obj["metadata"]["uid"], "controller": True,
                "blockOwnerDeletion": True}  # fmt: skip

    existing = core.list_namespaced_pod(
        namespace, label_selector=",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    )
    for pod in _as_dict(api_client, existing)["items"]:
        core.delete_namespaced_pod(pod["metadata"]["name"], namespace, grace_period_seconds=0)

    try:
        rs = _as_dict(api_client, apps.read_namespaced_replica_set(rs_name, namespace))
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        rs_body: Any = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": rs_name, "labels": labels,
                         "ownerReferences": [owner("Deployment", deployment, "apps/v1")]},
            "spec": {"replicas": replicas,
                     "selector": {"matchLabels": {**selector, "pod-template-hash": pod_hash}},
                     "template": {**template, "metadata": {**(template.get("metadata") or {}),
                                                           "labels": labels}}},
        }  # fmt: skip
        rs = _as_dict(api_client, apps.create_namespaced_replica_set(namespace, rs_body))

    pods: list[dict[str, Any]] = []
    for index in range(replicas):
        is_ready = index < ready
        body: Any = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{rs_name}-{index:05d}"[:63],
                "labels": labels,
                "annotations": (template.get("metadata") or {}).get("annotations") or {},
                "ownerReferences": [owner("ReplicaSet", rs, "apps/v1")],
            },
            "spec": {
                **template["spec"],
                "nodeName": "" if (not is_ready and problem == "Unschedulable") else "local-node",
            },
        }
        if not body["spec"]["nodeName"]:
            del body["spec"]["nodeName"]
        created = _as_dict(api_client, core.create_namespaced_pod(namespace, body))
        status = pod_status(template["spec"], is_ready, problem or "NotReady", container)
        patched = core.patch_namespaced_pod_status(
            created["metadata"]["name"], namespace, {"status": status}
        )
        pods.append(_as_dict(api_client, patched))
    return pods


def simulate_deployment(
    api_client: client.ApiClient,
    namespace: str,
    name: str,
    *,
    ready: int | None = None,
    problem: PodProblem | None = None,
    container: str | None = None,
) -> dict[str, Any]:
    """Pods and Deployment status together: what a cluster shows once things settle."""
    create_pods(api_client, namespace, name, ready=ready, problem=problem, container=container)
    return set_deployment_status(api_client, namespace, name, ready=ready, problem=problem)


def set_hpa_status(
    api_client: client.ApiClient,
    namespace: str,
    name: str,
    *,
    current_replicas: int,
    desired_replicas: int | None = None,
    cpu_utilization: int | None = None,
    memory_utilization: int | None = None,
    conditions: list[dict[str, Any]] | None = None,
    last_scale_time: str | None = None,
) -> dict[str, Any]:
    """An autoscaling/v2 HPA status as the HPA controller writes it.

    Default conditions: AbleToScale and ScalingActive True; ScalingLimited True when the
    desired count sits at the HPA's min or max.
    """
    hpa_api = client.AutoscalingV2Api(api_client)
    hpa = _as_dict(api_client, hpa_api.read_namespaced_horizontal_pod_autoscaler(name, namespace))
    desired = current_replicas if desired_replicas is None else desired_replicas
    spec = hpa.get("spec") or {}
    metrics: list[dict[str, Any]] = []
    for resource, value in (("cpu", cpu_utilization), ("memory", memory_utilization)):
        if value is not None:
            metrics.append(
                {
                    "type": "Resource",
                    "resource": {"name": resource, "current": {"averageUtilization": value}},
                }
            )
    if conditions is None:
        at_limit = desired in (spec.get("minReplicas", 1), spec.get("maxReplicas"))
        conditions = [
            _condition("AbleToScale", True, "ReadyForNewScale",
                       "recommended size matches current size"),
            _condition("ScalingActive", True, "ValidMetricFound",
                       "the HPA was able to successfully calculate a replica count"),
            _condition("ScalingLimited", at_limit,
                       "TooManyReplicas" if desired == spec.get("maxReplicas") else
                       "TooFewReplicas" if at_limit else "DesiredWithinRange",
                       "the desired replica count is at a limit" if at_limit else
                       "the desired count is within the acceptable range"),
        ]  # fmt: skip
        for condition in conditions:
            condition.pop("lastUpdateTime", None)
    status: dict[str, Any] = {
        "currentReplicas": current_replicas,
        "desiredReplicas": desired,
        "currentMetrics": metrics,
        "conditions": conditions,
        "observedGeneration": hpa["metadata"].get("generation", 1),
    }
    if last_scale_time is not None:
        status["lastScaleTime"] = last_scale_time
    result = hpa_api.patch_namespaced_horizontal_pod_autoscaler_status(
        name, namespace, {"status": status}
    )
    return _as_dict(api_client, result)
