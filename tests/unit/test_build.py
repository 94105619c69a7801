"""Behaviour of the pure builders: what each child must say for a given spec."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import support
from llmservice_operator.api import naming
from llmservice_operator.api.models import DEFAULT_OLLAMA_IMAGE, LLMService
from llmservice_operator.builders import (
    build_children,
    build_deployment,
    build_hpa,
    build_service,
)
from llmservice_operator.builders import deployment as deployment_module
from llmservice_operator.tools.render.validation import validate_llmservice


def make(
    spec: dict[str, Any] | None = None,
    *,
    name: str = "chat",
    namespace: str | None = "team-a",
    uid: str | None = "0b9c7c3e-5d1e-4f0a-9d6b-1f2e3d4c5b6a",
) -> LLMService:
    """A spec the API server would store: through ``validate_llmservice`` (fields and the
    CRD's CEL rules), so no test here checks a builder on a spec that cannot happen."""
    metadata = {} if uid is None else {"uid": uid}
    return validate_llmservice(support.llmservice(spec, name=name, namespace=namespace, **metadata))


def make_unreachable(spec: dict[str, Any]) -> LLMService:
    """A spec the CRD rejects, built on purpose (fields checked, CEL rules not) to show what
    the builders do if one ever got through."""
    return LLMService.model_validate(support.llmservice(spec))


def pod_spec(service: LLMService) -> dict[str, Any]:
    spec: dict[str, Any] = build_deployment(service)["spec"]["template"]["spec"]
    return spec


def backend(service: LLMService) -> dict[str, Any]:
    containers = pod_spec(service)["containers"]
    assert [c["name"] for c in containers] == [naming.BACKEND_CONTAINER]
    result: dict[str, Any] = containers[0]
    return result


def ollama(service: LLMService) -> dict[str, Any]:
    inits = pod_spec(service)["initContainers"]
    assert [c["name"] for c in inits] == [naming.OLLAMA_CONTAINER]
    result: dict[str, Any] = inits[0]
    return result


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    names = [e["name"] for e in container["env"]]
    assert len(names) == len(set(names)), f"duplicate env names in {names}"
    return {e["name"]: e for e in container["env"]}


def env_value(container: dict[str, Any], name: str) -> str:
    value: str = env_of(container)[name]["value"]
    return value


# --------------------------------------------------------------------------- children


def test_children_with_autoscaling_are_deployment_service_hpa() -> None:
    kinds = [c["kind"] for c in build_children(make())]
    assert kinds == ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"]


def test_children_without_autoscaling_have_no_hpa() -> None:
    kinds = [c["kind"] for c in build_children(make({"autoscaling": {"enabled": False}}))]
    assert kinds == ["Deployment", "Service", "PodDisruptionBudget"]


def test_children_are_named_after_the_service_and_in_its_namespace() -> None:
    for child in build_children(make(name="tiny", namespace="prod")):
        assert child["metadata"]["name"] == "tiny"
        assert child["metadata"]["namespace"] == "prod"


def test_builders_are_pure_and_do_not_touch_the_spec() -> None:
    service = make(
        {
            "pod": {"tolerations": [{"key": "k", "operator": "Exists"}], "labels": {"a": "b"}},
            "backend": {"env": [{"name": "X", "value": "1"}]},
        }
    )
    before = service.model_dump()
    first = build_children(service)
    snapshot = copy.deepcopy(first)
    # Mutating one result must not leak into the spec or into the next build.
    first[0]["spec"]["template"]["spec"]["tolerations"][0]["key"] = "changed"
    first[0]["spec"]["template"]["metadata"]["labels"]["a"] = "changed"
    assert service.model_dump() == before
    assert build_children(service) == snapshot


# --------------------------------------------------------------------------- replicas


def test_no_replicas_field_while_autoscaling_is_enabled() -> None:
    deployment = build_deployment(make({"replicas": 5, "autoscaling": {"enabled": True}}))
    assert "replicas" not in deployment["spec"]


@pytest.mark.parametrize("replicas", [0, 1, 3, 1000])
def test_replicas_from_spec_when_autoscaling_is_off(replicas: int) -> None:
    service = make({"replicas": replicas, "autoscaling": {"enabled": False}})
    assert build_deployment(service)["spec"]["replicas"] == replicas


SURGE = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
ONE_AT_A_TIME = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
RECREATE = {"type": "Recreate"}
PVC = {"type": "PersistentVolumeClaim", "size": "5Gi"}
SINGLE = {"autoscaling": {"enabled": False}, "replicas": 1}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, SURGE),
        ({"model": {"storage": {"type": "EmptyDir", "size": None}}}, SURGE),
        ({"model": {"storage": {**PVC, "accessMode": "ReadWriteMany"}}}, SURGE),
        # a single-attach claim: the surge pod could never mount it (RWOP) or would hit
        # Multi-Attach on another node (RWO), so the old pod goes first
        ({"model": {"storage": PVC}, **SINGLE}, RECREATE),
        ({"model": {"storage": {**PVC, "accessMode": "ReadWriteOncePod"}}, **SINGLE}, RECREATE),
        (
            {"model": {"storage": PVC}, "autoscaling": {"minReplicas": 1, "maxReplicas": 1}},
            RECREATE,
        ),
        # an existing claim's mode is unknown unless the user says it is ReadWriteMany
        ({"model": {"storage": {"type": "PersistentVolumeClaim", "claimName": "m"}}}, RECREATE),
        (
            {
                "model": {
                    "storage": {
                        "type": "PersistentVolumeClaim",
                        "claimName": "m",
                        "accessMode": "ReadWriteMany",
                    }
                }
            },
            SURGE,
        ),
        # GPUs: a surge pod would need a spare GPU; with several pods, replace one at a time
        ({"gpu": {"count": 1}, "autoscaling": {"enabled": False}, "replicas": 2}, ONE_AT_A_TIME),
        ({"gpu": {"count": 1}}, ONE_AT_A_TIME),
        ({"gpu": {"count": 1}, **SINGLE}, SURGE),
        (
            {"gpu": {"count": 2}, "autoscaling": {"minReplicas": 1, "maxReplicas": 1}},
            SURGE,
        ),
        ({"gpu": {"count": 1}, "model": {"storage": PVC}, **SINGLE}, RECREATE),
    ],
)
def test_update_strategy_fits_the_storage_and_the_gpus(
    spec: dict[str, Any], expected: dict[str, Any]
) -> None:
    service = validate_llmservice(support.llmservice(spec))
    assert build_deployment(service)["spec"]["strategy"] == expected


def test_progress_deadline_outlasts_the_model_pull_budget() -> None:
    deployment = build_deployment(make())
    startup = backend(make())["startupProbe"]
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    assert deployment["spec"]["progressDeadlineSeconds"] > budget


# --------------------------------------------------------------------------- HPA


def test_hpa_targets_the_deployment_with_bounds_and_both_metrics() -> None:
    hpa = build_hpa(
        make(
            {
                "autoscaling": {
                    "minReplicas": 2,
                    "maxReplicas": 6,
                    "targetCPUUtilizationPercentage": 70,
                    "targetMemoryUtilizationPercentage": 80,
                    "scaleDownStabilizationSeconds": 120,
                }
            }
        )
    )
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "chat"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 6)
    targets = {m["resource"]["name"]: m["resource"]["target"] for m in spec["metrics"]}
    assert targets == {
        "cpu": {"type": "Utilization", "averageUtilization": 70},
        "memory": {"type": "Utilization", "averageUtilization": 80},
    }
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 120


@pytest.mark.parametrize(
    ("cpu", "memory", "expected"),
    [(50, None, ["cpu"]), (None, 90, ["memory"]), (50, 90, ["cpu", "memory"])],
)
def test_hpa_has_only_the_metrics_that_are_set(
    cpu: int | None, memory: int | None, expected: list[str]
) -> None:
    hpa = build_hpa(
        make(
            {
                "autoscaling": {
                    "targetCPUUtilizationPercentage": cpu,
                    "targetMemoryUtilizationPercentage": memory,
                }
            }
        )
    )
    assert [m["resource"]["name"] for m in hpa["spec"].get("metrics", [])] == expected


def test_hpa_without_targets_has_no_metrics() -> None:
    # The CRD refuses autoscaling without a target; were one to get through, the HPA would
    # carry no metrics (the API server then applies its default, 80 % CPU).
    unreachable = make_unreachable(
        {
            "autoscaling": {
                "targetCPUUtilizationPercentage": None,
                "targetMemoryUtilizationPercentage": None,
            }
        }
    )
    assert "metrics" not in build_hpa(unreachable)["spec"]


# --------------------------------------------------------------------------- Service


def test_service_exposes_the_backend_port_by_name_and_selects_the_pods() -> None:
    service = make({"service": {"type": "NodePort", "port": 8000, "nodePort": 30080}})
    svc = build_service(service)
    assert svc["spec"]["type"] == "NodePort"
    (port,) = svc["spec"]["ports"]
    assert port["port"] == 8000
    assert port["nodePort"] == 30080
    backend_port, metrics_port = backend(service)["ports"]
    assert port["targetPort"] == backend_port["name"]
    assert metrics_port["name"] == "metrics"  # the pod's, not the Service's
    assert backend_port["containerPort"] == 8080
    selector = svc["spec"]["selector"]
    assert selector == naming.selector_labels("chat")
    pod_labels = build_deployment(service)["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()


def test_cluster_ip_service_drops_a_node_port() -> None:
    # The CRD refuses a nodePort on a ClusterIP Service; the builder drops one anyway.
    svc = build_service(make_unreachable({"service": {"type": "ClusterIP", "nodePort": 30080}}))
    assert "nodePort" not in svc["spec"]["ports"][0]


def test_service_annotations_pass_through() -> None:
    notes = {"service.beta.kubernetes.io/aws-load-balancer-internal": "true"}
    svc = build_service(make({"service": {"type": "LoadBalancer", "annotations": notes}}))
    assert svc["metadata"]["annotations"] == notes


# --------------------------------------------------------------------------- pod shape


def test_ollama_is_a_native_sidecar_without_ports_on_loopback() -> None:
    service = make()
    sidecar = ollama(service)
    assert sidecar["restartPolicy"] == "Always"
    assert sidecar["image"] == DEFAULT_OLLAMA_IMAGE
    assert "ports" not in sidecar
    assert env_value(sidecar, "OLLAMA_HOST") == "127.0.0.1:11434"
    assert env_value(backend(service), "OLLAMA_URL") == "http://127.0.0.1:11434"


def test_backend_port_follows_the_spec() -> None:
    service = make({"backend": {"port": 9000}})
    port, _ = backend(service)["ports"]
    assert port == {"name": "http", "containerPort": 9000, "protocol": "TCP"}
    assert env_value(backend(service), "BACKEND_PORT") == "9000"


def test_backend_probes_readiness_is_the_model_liveness_is_the_process() -> None:
    container = backend(make())
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    startup = container["startupProbe"]
    assert startup["httpGet"]["path"] == "/readyz"
    # A model pull takes minutes: the startup probe must allow at least ten.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] == "http"


def test_ollama_probes_run_inside_the_container() -> None:
    # Ollama listens on loopback only: an httpGet or tcpSocket probe from the kubelet
    # would connect to the pod IP and always fail.
    sidecar = ollama(make())
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert set(sidecar[probe]) & {"httpGet", "tcpSocket", "grpc"} == set()
        assert sidecar[probe]["exec"]["command"][0] == "ollama"


def test_model_volume_is_ollamas_models_directory() -> None:
    service = make({"model": {"storage": {"type": "EmptyDir", "size": "3Gi"}}})
    sidecar = ollama(service)
    mounts = {m["name"]: m["mountPath"] for m in sidecar["volumeMounts"]}
    assert env_value(sidecar, "OLLAMA_MODELS") == mounts[naming.MODEL_VOLUME]
    volumes = {v["name"]: v for v in pod_spec(service)["volumes"]}
    assert volumes[naming.MODEL_VOLUME] == {"name": "models", "emptyDir": {"sizeLimit": "3Gi"}}


def test_every_mount_has_a_volume_and_every_volume_is_mounted() -> None:
    service = make()
    spec = pod_spec(service)
    volumes = {v["name"] for v in spec["volumes"]}
    mounted = {
        m["name"] for c in spec["containers"] + spec["initContainers"] for m in c["volumeMounts"]
    }
    assert mounted == volumes


def test_grace_period_and_drain_budget() -> None:
    service = make({"pod": {"terminationGracePeriodSeconds": 300}})
    spec = pod_spec(service)
    assert spec["terminationGracePeriodSeconds"] == 300
    container = backend(service)
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    drain = int(env_value(container, "SHUTDOWN_GRACE_SECONDS"))
    assert pause > 0
    # The preStop pause and the drain both come out of the same grace period.
    assert drain > 0
    assert pause + drain < 300


@pytest.mark.parametrize("grace", [1, 2, 4, 10, 40, 120, 3600])
def test_drain_budget_fits_any_grace_period(grace: int) -> None:
    pause = deployment_module.prestop_seconds(grace)
    drain = deployment_module.shutdown_grace_seconds(grace)
    assert drain >= 1
    assert pause + drain <= max(grace, 1)
    container = backend(make({"pod": {"terminationGracePeriodSeconds": grace}}))
    assert ("lifecycle" in container) == (pause > 0)


# --------------------------------------------------------------------------- security


def test_pod_runs_restricted_and_non_root() -> None:
    service = make()
    spec = pod_spec(service)
    pod_ctx = spec["securityContext"]
    assert pod_ctx["runAsNonRoot"] is True
    assert pod_ctx["runAsUser"] > 0
    assert pod_ctx["runAsGroup"] > 0
    assert pod_ctx["fsGroup"] == pod_ctx["runAsGroup"]
    assert pod_ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"] + spec["initContainers"]:
        ctx = container["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"] == {"drop": ["ALL"]}
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx.get("privileged") is not True


def test_writable_paths_are_volumes_under_a_read_only_root() -> None:
    # Ollama writes $HOME/.ollama (its key pair) and the models; with a read-only root
    # filesystem both, and /tmp of each container, must be mounted volumes.
    service = make()
    sidecar = ollama(service)
    mount_paths = {m["mountPath"] for m in sidecar["volumeMounts"]}
    assert env_value(sidecar, "HOME") in mount_paths
    assert env_value(sidecar, "OLLAMA_MODELS") in mount_paths
    assert "/tmp" in mount_paths
    assert "/tmp" in {m["mountPath"] for m in backend(service)["volumeMounts"]}


# --------------------------------------------------------------------------- GPU


def test_gpu_limit_on_ollama_only_when_requested() -> None:
    service = make({"gpu": {"count": 2, "resourceName": "amd.com/gpu"}})
    assert ollama(service)["resources"]["limits"]["amd.com/gpu"] == "2"
    assert ollama(service)["resources"]["limits"]["memory"] == "4Gi"  # defaults kept
    assert "amd.com/gpu" not in backend(service)["resources"].get("limits", {})
    cpu_only = make({"gpu": {"count": 0}})
    assert "nvidia.com/gpu" not in ollama(cpu_only)["resources"].get("limits", {})


def test_gpu_limit_added_when_ollama_has_no_limits() -> None:
    requests = {"cpu": "2", "memory": "4Gi"}
    service = make({"gpu": {"count": 1}, "ollama": {"resources": {"requests": requests}}})
    assert ollama(service)["resources"] == {
        "requests": requests,
        "limits": {"nvidia.com/gpu": "1"},
    }


# --------------------------------------------------------------------------- scheduling


def test_scheduling_and_pod_metadata_pass_through() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                ]
            }
        }
    }
    tolerations = [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    service = make(
        {
            "pod": {
                "nodeSelector": {"pool": "llm"},
                "tolerations": tolerations,
                "affinity": affinity,
                "runtimeClassName": "nvidia",
                "priorityClassName": "high",
                "serviceAccountName": "llm",
                "imagePullSecrets": [{"name": "regcred"}],
                "labels": {"team": "ml", naming.INSTANCE_LABEL: "hijack"},
                "annotations": {"example.com/note": "x"},
            }
        }
    )
    deployment = build_deployment(service)
    template = deployment["spec"]["template"]
    spec = template["spec"]
    assert spec["nodeSelector"] == {"pool": "llm"}
    assert spec["tolerations"] == tolerations
    assert spec["affinity"] == affinity
    assert spec["runtimeClassName"] == "nvidia"
    assert spec["priorityClassName"] == "high"
    assert spec["serviceAccountName"] == "llm"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert template["metadata"]["labels"]["team"] == "ml"
    # Our selector labels win over the user's, so the Deployment still selects its pods.
    assert template["metadata"]["labels"][naming.INSTANCE_LABEL] == "chat"
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= template["metadata"]["labels"].items()
    assert template["metadata"]["annotations"]["example.com/note"] == "x"


def test_unset_scheduling_fields_are_left_out() -> None:
    spec = pod_spec(make())
    for field in (
        "nodeSelector",
        "tolerations",
        "affinity",
        "runtimeClassName",
        "priorityClassName",
        "serviceAccountName",
        "imagePullSecrets",
    ):
        assert field not in spec


# --------------------------------------------------------------------------- env


def test_backend_env_carries_the_agreed_settings() -> None:
    service = make(
        {
            "model": {"name": "llama3.2:1b", "pullPolicy": "Always", "keepAlive": "10m"},
            "backend": {
                "maxConcurrentRequests": 3,
                "maxQueuedRequests": 7,
                "timeouts": {"queueSeconds": 900, "requestSeconds": 1800},
            },
        }
    )
    env = env_of(backend(service))
    # SHUTDOWN_GRACE_SECONDS has tests of its own (the drain budget, above)
    assert {k: v.get("value") for k, v in env.items() if k != "SHUTDOWN_GRACE_SECONDS"} == {
        "OLLAMA_URL": "http://127.0.0.1:11434",
        "MODEL_NAME": "llama3.2:1b",
        "MODEL_PULL_POLICY": "Always",
        "MODEL_KEEP_ALIVE": "10m",
        "BACKEND_PORT": "8080",
        "METRICS_PORT": "9090",
        "MAX_CONCURRENT_REQUESTS": "3",
        "MAX_QUEUED_REQUESTS": "7",
        "QUEUE_TIMEOUT_SECONDS": "900",
        "FIRST_TOKEN_TIMEOUT_SECONDS": "300",
        "STREAM_IDLE_TIMEOUT_SECONDS": "120",
        "REQUEST_TIMEOUT_SECONDS": "1800",
    }
    assert "SHUTDOWN_GRACE_SECONDS" in env
    assert "API_KEY" not in env


def test_api_key_comes_from_the_secret() -> None:
    service = make({"backend": {"apiKeySecretRef": {"name": "chat-key", "key": "token"}}})
    api_key = env_of(backend(service))["API_KEY"]
    assert api_key == {
        "name": "API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "chat-key", "key": "token"}},
    }


def test_ollama_env_carries_parallelism_and_keep_alive() -> None:
    service = make({"ollama": {"numParallel": 6}, "model": {"keepAlive": "-1"}})
    sidecar = ollama(service)
    assert env_value(sidecar, "OLLAMA_NUM_PARALLEL") == "6"
    assert env_value(sidecar, "OLLAMA_KEEP_ALIVE") == "-1"
    assert "OLLAMA_NOPRUNE" not in env_of(sidecar)


def test_user_env_is_appended_and_overrides_ours_by_name() -> None:
    service = make(
        {
            "backend": {
                "env": [
                    {"name": "LOG_LEVEL", "value": "debug"},
                    {"name": "MAX_QUEUED_REQUESTS", "value": "99"},
                    {
                        "name": "POD_NAME",
                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                    },
                ]
            },
            "ollama": {"env": [{"name": "OLLAMA_NUM_PARALLEL", "value": "1"}]},
        }
    )
    container = backend(service)
    names = [e["name"] for e in container["env"]]
    # Ours keep their place; the user's new ones follow in their order.
    assert names[-2:] == ["LOG_LEVEL", "POD_NAME"]
    assert names.index("MAX_QUEUED_REQUESTS") < names.index("LOG_LEVEL")
    assert env_value(container, "MAX_QUEUED_REQUESTS") == "99"
    assert env_of(container)["POD_NAME"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.name"}
    }
    assert env_value(ollama(service), "OLLAMA_NUM_PARALLEL") == "1"


# --------------------------------------------------------------------------- storage


def test_operator_creates_a_claim_for_sized_persistent_storage() -> None:
    service = make(
        {
            "model": {
                "storage": {
                    "type": "PersistentVolumeClaim",
                    "size": "20Gi",
                    "accessMode": "ReadWriteMany",
                    "storageClassName": "nfs",
                }
            }
        }
    )
    children = build_children(service)
    claim = children[0]
    assert claim["kind"] == "PersistentVolumeClaim"
    assert claim["metadata"]["name"] == "chat-models"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": "20Gi"}},
        "storageClassName": "nfs",
    }
    volumes = {v["name"]: v for v in pod_spec(service)["volumes"]}
    assert volumes[naming.MODEL_VOLUME]["persistentVolumeClaim"] == {"claimName": "chat-models"}
    assert env_value(ollama(service), "OLLAMA_NOPRUNE") == "1"


def test_existing_claim_is_mounted_but_not_created() -> None:
    service = make(
        {"model": {"storage": {"type": "PersistentVolumeClaim", "claimName": "shared-models"}}}
    )
    assert "PersistentVolumeClaim" not in [c["kind"] for c in build_children(service)]
    volumes = {v["name"]: v for v in pod_spec(service)["volumes"]}
    assert volumes[naming.MODEL_VOLUME]["persistentVolumeClaim"] == {"claimName": "shared-models"}


def test_empty_dir_storage_creates_no_claim() -> None:
    kinds = [c["kind"] for c in build_children(make({"model": {"storage": {"type": "EmptyDir"}}}))]
    assert "PersistentVolumeClaim" not in kinds


# --------------------------------------------------------------------------- metadata


def test_every_child_has_common_labels_and_a_controller_reference() -> None:
    service = make(
        {
            "model": {
                "storage": {
                    "type": "PersistentVolumeClaim",
                    "size": "5Gi",
                    "accessMode": "ReadWriteMany",
                }
            }
        },
        uid="1234-uid",
    )
    children = build_children(service)
    assert len(children) == 5
    for child in children:
        assert child["metadata"]["labels"] == naming.common_labels("chat")
        assert child["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "llmservice.dev/v1alpha1",
                "kind": "LLMService",
                "name": "chat",
                "uid": "1234-uid",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]


def test_offline_render_has_no_owner_references() -> None:
    for child in build_children(make(uid=None)):
        assert "ownerReferences" not in child["metadata"]


def test_no_namespace_when_the_service_has_none() -> None:
    for child in build_children(make(namespace=None)):
        assert "namespace" not in child["metadata"]
