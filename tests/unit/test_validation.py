"""Invalid LLMServices are rejected with a message naming the field, by ``validate_llmservice``
(what ``render`` runs; the operator runs its first half, the models) and by the CRD itself
(its schema and its CEL rules, evaluated as the API server would on the defaulted object)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
import support
from llmservice_operator.api.models import LLMService
from llmservice_operator.api.validation import InvalidLLMServiceError
from llmservice_operator.tools.render.validation import validate_llmservice
from support import crd_cel_errors, crd_schema_errors

SCHEMA = support.SCHEMA


def base() -> dict[str, Any]:
    return support.llmservice()


def merged(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(target)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and value:
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass(frozen=True)
class Case:
    id: str
    patch: dict[str, Any]
    path: str
    fragment: str  # part of the message
    # cel: a CEL rule of the CRD rejects it (and the OpenAPI schema accepts it); schema:
    # the CRD's OpenAPI schema does; none: only validate_llmservice looks.
    by: str = "cel"

    def document(self) -> dict[str, Any]:
        return merged(base(), self.patch)


def spec(**fields: Any) -> dict[str, Any]:
    return {"spec": fields}


PVC = {"type": "PersistentVolumeClaim", "size": "5Gi"}

CASES = [
    # --- CEL rules -------------------------------------------------------------------
    Case(
        "request-timeout-not-above-queue",
        spec(backend={"timeouts": {"queueSeconds": 600, "requestSeconds": 600}}),
        "spec.backend.timeouts.requestSeconds",
        "must exceed queueSeconds",
    ),
    Case(
        "request-timeout-below-first-token",
        spec(backend={"timeouts": {"firstTokenSeconds": 1500, "requestSeconds": 1200}}),
        "spec.backend.timeouts.requestSeconds",
        "must be at least firstTokenSeconds",
    ),
    Case(
        "queue-timeout-zero",
        spec(backend={"timeouts": {"queueSeconds": 0}}),
        "spec.backend.timeouts.queueSeconds",
        "must be at least 1",
        by="schema",
    ),
    Case(
        "min-above-max",
        spec(autoscaling={"minReplicas": 7, "maxReplicas": 6}),
        "spec.autoscaling.minReplicas",
        "spec.autoscaling.minReplicas must not exceed spec.autoscaling.maxReplicas",
    ),
    Case(
        "autoscaling-without-targets",
        spec(
            autoscaling={
                "targetCPUUtilizationPercentage": None,
                "targetMemoryUtilizationPercentage": None,
            }
        ),
        "spec.autoscaling.targetCPUUtilizationPercentage",
        "is required while spec.autoscaling.enabled is true",
    ),
    Case(
        "pvc-without-size-or-claim",
        spec(model={"storage": {"type": "PersistentVolumeClaim", "size": None}}),
        "spec.model.storage.size",
        "spec.model.storage.size or spec.model.storage.claimName is required",
    ),
    Case(
        "claim-name-on-emptydir",
        spec(model={"storage": {"claimName": "models"}}),
        "spec.model.storage.claimName",
        "only allowed when spec.model.storage.type is PersistentVolumeClaim, not EmptyDir",
    ),
    Case(
        "storage-class-with-existing-claim",
        spec(
            model={
                "storage": {
                    "type": "PersistentVolumeClaim",
                    "claimName": "models",
                    "storageClassName": "fast",
                }
            }
        ),
        "spec.model.storage.storageClassName",
        "cannot be combined with spec.model.storage.claimName",
    ),
    Case(
        "rwo-claim-autoscaled",
        spec(model={"storage": PVC}),
        "spec.model.storage.accessMode",
        "ReadWriteOnce or ReadWriteOncePod lets only one pod use the model claim",
    ),
    Case(
        "rwop-claim-two-fixed-replicas",
        spec(
            model={"storage": {**PVC, "accessMode": "ReadWriteOncePod"}},
            autoscaling={"enabled": False},
            replicas=2,
        ),
        "spec.model.storage.accessMode",
        "run at most 1 replica (spec.replicas, or spec.autoscaling.maxReplicas",
    ),
    Case(
        "never-pull-on-emptydir",
        spec(model={"pullPolicy": "Never"}),
        "spec.model.pullPolicy",
        "spec.model.pullPolicy Never needs spec.model.storage.type PersistentVolumeClaim",
    ),
    Case(
        "node-port-on-cluster-ip",
        spec(service={"nodePort": 30080}),
        "spec.service.nodePort",
        "only allowed when spec.service.type is NodePort or LoadBalancer, not ClusterIP",
    ),
    Case(
        "backend-on-ollama-port",
        spec(backend={"port": 11434}),
        "spec.backend.port",
        "spec.backend.port must not be 11434",
    ),
    Case(
        "backend-cpu-request-missing",
        spec(backend={"resources": {"requests": {"memory": "128Mi"}}}),
        "spec.backend.resources.requests",
        "spec.backend.resources.requests.cpu is required while the autoscaler scales on cpu "
        "(spec.autoscaling.targetCPUUtilizationPercentage, or a spec.autoscaling.metrics "
        "entry of type CPU)",
    ),
    Case(
        "ollama-cpu-request-missing",
        spec(ollama={"resources": {"requests": {"memory": "1Gi"}}}),
        "spec.ollama.resources.requests",
        "spec.ollama.resources.requests.cpu is required",
    ),
    Case(
        "backend-memory-request-missing",
        spec(backend={"resources": {"requests": {"cpu": "100m"}}}),
        "spec.backend.resources.requests",
        "spec.backend.resources.requests.memory is required while the autoscaler scales on "
        "memory (spec.autoscaling.targetMemoryUtilizationPercentage, or a "
        "spec.autoscaling.metrics entry of type Memory)",
    ),
    Case(
        "ollama-memory-request-missing",
        spec(ollama={"resources": {"requests": {"cpu": "1"}, "limits": {}}}),
        "spec.ollama.resources.requests",
        "spec.ollama.resources.requests.memory is required",
    ),
    Case(
        "backend-memory-limit-below-request",
        spec(
            backend={
                "resources": {
                    "requests": {"cpu": "100m", "memory": "1Gi"},
                    "limits": {"memory": "512Mi"},
                }
            }
        ),
        "spec.backend.resources.limits",
        "spec.backend.resources.limits.memory must be at least "
        "spec.backend.resources.requests.memory",
    ),
    Case(
        "ollama-cpu-limit-below-request",
        spec(ollama={"resources": {"requests": {"cpu": 2, "memory": "1Gi"}, "limits": {"cpu": 1}}}),
        "spec.ollama.resources.limits",
        "spec.ollama.resources.limits.cpu must be at least spec.ollama.resources.requests.cpu",
    ),
    Case(
        "gpu-resource-set-twice",
        spec(gpu={"count": 1}, ollama={"resources": {"limits": {"nvidia.com/gpu": 1}}}),
        "spec.ollama.resources",
        "spec.ollama.resources must not set the GPU resource named by spec.gpu.resourceName",
    ),
    Case(
        "backend-env-twice",
        spec(backend={"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}),
        "spec.backend.env",
        "spec.backend.env must not name a variable twice",
    ),
    Case(
        "ollama-env-twice",
        spec(ollama={"env": [{"name": "B", "value": "1"}, {"name": "B", "value": "1"}]}),
        "spec.ollama.env",
        "spec.ollama.env must not name a variable twice",
    ),
    Case(
        "env-value-and-value-from",
        spec(
            backend={
                "env": [
                    {"name": "OK", "value": "1"},
                    {
                        "name": "X",
                        "value": "1",
                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                    },
                ]
            }
        ),
        "spec.backend.env[1].valueFrom",
        "spec.backend.env entry X takes value or valueFrom, not both",
    ),
    Case(
        "name-not-dns1035",
        {"metadata": {"name": "9lives"}},
        "metadata.name",
        "DNS-1035 label",
    ),
    Case(
        "pod-label-key-with-a-space",
        spec(pod={"labels": {"Bad Key": "x"}}),
        "spec.pod.labels",
        'key "Bad Key" must be a qualified name',
    ),
    Case(
        "pod-annotation-key-prefix-too-long",
        spec(pod={"annotations": {"a" * 254 + "/x": "v"}}),
        "spec.pod.annotations",
        "the prefix before / must be at most 253 characters",
    ),
    Case(
        "service-annotation-key-starting-with-a-dash",
        spec(service={"annotations": {"-x": "v"}}),
        "spec.service.annotations",
        'key "-x" must be a qualified name',
    ),
    Case(
        "node-selector-key-with-two-slashes",
        spec(pod={"nodeSelector": {"a/b/c": "x"}}),
        "spec.pod.nodeSelector",
        'key "a/b/c" must be a qualified name',
    ),
    Case(
        "resource-name-without-a-domain",
        spec(ollama={"resources": {"limits": {"memory": "4Gi", "gpu": 1}}}),
        "spec.ollama.resources.limits",
        'key "gpu" must be a resource name',
    ),
    Case(
        "backend-request-named-like-a-sentence",
        spec(backend={"resources": {"requests": {"cpu": "1", "memory": "1Gi", "My CPU": "1"}}}),
        "spec.backend.resources.requests",
        'key "My CPU" must be a resource name',
    ),
    # --- the OpenAPI schema ------------------------------------------------------------
    Case(
        "pod-label-value-with-a-space",
        spec(pod={"labels": {"app": "has space"}}),
        "spec.pod.labels.app",
        "must be a label value",
        by="schema",
    ),
    Case(
        "node-selector-value-too-long",
        spec(pod={"nodeSelector": {"pool": "x" * 64}}),
        "spec.pod.nodeSelector.pool",
        "at most 63 characters",
        by="schema",
    ),
    Case(
        "too-many-pod-labels",
        spec(pod={"labels": {f"l{i}": "v" for i in range(33)}}),
        "spec.pod.labels",
        "at most 32 items",
        by="schema",
    ),
    Case(
        "service-account-name-not-dns",
        spec(pod={"serviceAccountName": "My_SA"}),
        "spec.pod.serviceAccountName",
        "must be a DNS-1123 subdomain",
        by="schema",
    ),
    Case(
        "priority-class-name-not-dns",
        spec(pod={"priorityClassName": "High Priority"}),
        "spec.pod.priorityClassName",
        "must be a DNS-1123 subdomain",
        by="schema",
    ),
    Case(
        "runtime-class-name-not-dns",
        spec(pod={"runtimeClassName": "NVIDIA"}),
        "spec.pod.runtimeClassName",
        "must be a DNS-1123 subdomain",
        by="schema",
    ),
    Case(
        "image-pull-secret-name-not-dns",
        spec(pod={"imagePullSecrets": [{"name": "Reg Cred"}]}),
        "spec.pod.imagePullSecrets[0].name",
        "must be a DNS-1123 subdomain",
        by="schema",
    ),
    Case(
        "storage-class-name-not-dns",
        spec(model={"storage": {"type": "PersistentVolumeClaim", "storageClassName": "Fast SSD"}}),
        "spec.model.storage.storageClassName",
        "must be a DNS-1123 subdomain",
        by="schema",
    ),
    Case(
        "secret-key-with-a-space",
        spec(backend={"apiKeySecretRef": {"name": "chat", "key": "api key"}}),
        "spec.backend.apiKeySecretRef.key",
        "must be a Secret key",
        by="schema",
    ),
    Case("negative-replicas", spec(replicas=-1), "spec.replicas", "at least 0", by="schema"),
    Case(
        "replicas-as-text",
        spec(replicas="2"),
        "spec.replicas",
        'must be an integer, not "2"',
        by="schema",
    ),
    Case(
        "enabled-as-text",
        spec(autoscaling={"enabled": "yes"}),
        "spec.autoscaling.enabled",
        'must be true or false, not "yes"',
        by="schema",
    ),
    Case(
        "min-replicas-zero",
        spec(autoscaling={"minReplicas": 0}),
        "spec.autoscaling.minReplicas",
        "at least 1, not 0",
        by="schema",
    ),
    Case(
        "cpu-target-zero",
        spec(autoscaling={"targetCPUUtilizationPercentage": 0}),
        "spec.autoscaling.targetCPUUtilizationPercentage",
        "at least 1",
        by="schema",
    ),
    Case(
        "service-type-ingress",
        spec(service={"type": "Ingress"}),
        "spec.service.type",
        "must be one of 'ClusterIP', 'NodePort' or 'LoadBalancer', not \"Ingress\"",
        by="schema",
    ),
    Case(
        "node-port-out-of-range",
        spec(service={"type": "NodePort", "nodePort": 80}),
        "spec.service.nodePort",
        "at least 30000, not 80",
        by="schema",
    ),
    Case(
        "misspelt-field",
        spec(modle={"name": "tinyllama"}),
        "spec.modle",
        "unknown field",
        by="schema",
    ),
    Case(
        "bad-quantity",
        spec(backend={"resources": {"requests": {"cpu": "2Gb", "memory": "1Gi"}}}),
        "spec.backend.resources.requests.cpu",
        'must be a Kubernetes quantity of 0 or more, such as 500m, 1, 512Mi or 2Gi, not "2Gb"',
        by="schema",
    ),
    Case(
        "float-cpu-request",
        spec(backend={"resources": {"requests": {"cpu": 0.5, "memory": "1Gi"}}}),
        "spec.backend.resources.requests.cpu",
        'must be a string or an integer, not the number 0.5: quote it ("0.5") or use '
        'millicores ("500m")',
        by="schema",
    ),
    Case(
        "float-memory-limit",
        spec(ollama={"resources": {"limits": {"memory": 1.5}}}),
        "spec.ollama.resources.limits.memory",
        'not the number 1.5: quote it ("1.5")',
        by="schema",
    ),
    Case(
        "float-storage-size",
        spec(model={"storage": {"size": 2.5}}),
        "spec.model.storage.size",
        "not the number 2.5",
        by="schema",
    ),
    Case(
        "bad-model-name",
        spec(model={"name": "Tiny Llama!"}),
        "spec.model.name",
        "must be an Ollama model reference",
        by="schema",
    ),
    Case(
        "bad-keep-alive",
        spec(model={"keepAlive": "forever"}),
        "spec.model.keepAlive",
        "must be a duration",
        by="schema",
    ),
    Case(
        "pull-policy-unknown",
        spec(model={"pullPolicy": "Sometimes"}),
        "spec.model.pullPolicy",
        "must be one of 'Always', 'IfNotPresent' or 'Never'",
        by="schema",
    ),
    Case(
        "too-many-gpus",
        spec(gpu={"count": 17}),
        "spec.gpu.count",
        "at most 16",
        by="schema",
    ),
    Case(
        "bad-gpu-resource-name",
        spec(gpu={"count": 1, "resourceName": "NVIDIA GPU"}),
        "spec.gpu.resourceName",
        "must be an extended resource name with a domain, such as nvidia.com/gpu",
        by="schema",
    ),
    Case(
        "env-without-name",
        spec(ollama={"env": [{"value": "1"}]}),
        "spec.ollama.env[0].name",
        "required field is missing",
        by="schema",
    ),
    Case(
        "bad-secret-name",
        spec(backend={"apiKeySecretRef": {"name": "Chat_Key"}}),
        "spec.backend.apiKeySecretRef.name",
        "must be a DNS-1123 subdomain",
        by="schema",
    ),
    Case(
        "name-too-long",
        {"metadata": {"name": "a" * 64}},
        "metadata.name",
        "at most 63 characters",
        by="schema",
    ),
    # --- only validate_llmservice (the API server checks these itself, not the CRD) -----
    Case(
        "namespace-not-a-dns-label",
        {"metadata": {"namespace": "Team_A"}},
        "metadata.namespace",
        "must be a DNS-1123 label",
        by="none",
    ),
    Case(
        "wrong-api-version",
        {"apiVersion": "llmservice.dev/v1"},
        "apiVersion",
        'must be llmservice.dev/v1alpha1 for an LLMService, not "llmservice.dev/v1"',
        by="none",
    ),
    Case(
        "wrong-kind",
        {"kind": "Deployment"},
        "kind",
        'must be LLMService, not "Deployment"',
        by="none",
    ),
]


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert len({case.id for case in CASES}) == len(CASES)
    assert sum(case.by == "cel" for case in CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_validate_llmservice_rejects_naming_the_field(case: Case) -> None:
    with pytest.raises(InvalidLLMServiceError) as caught:
        validate_llmservice(case.document())
    errors = caught.value.errors
    matching = [e for e in errors if e.path == case.path and case.fragment in e.message]
    assert matching, f"expected {case.path}: ...{case.fragment}... in {errors}"
    assert f"{case.path}: " in str(caught.value)


@pytest.mark.parametrize("case", [c for c in CASES if c.by == "cel"], ids=lambda c: c.id)
def test_the_crd_cel_rules_reject_it_too(case: Case) -> None:
    document = case.document()
    errors = crd_cel_errors(document)
    assert [e for e in errors if e.path == case.path and case.fragment in e.message], errors
    assert crd_schema_errors(document) == [], "the schema alone should accept it"


@pytest.mark.parametrize("case", [c for c in CASES if c.by == "schema"], ids=lambda c: c.id)
def test_the_crd_schema_rejects_it_too(case: Case) -> None:
    paths = crd_schema_errors(case.document())
    # unknown fields are reported at their parent; others at the field itself
    assert any(case.path == p or case.path.startswith(p + ".") for p in paths if p), paths


def test_a_valid_object_passes_both_ways() -> None:
    document = base()
    assert crd_cel_errors(document) == []
    assert crd_schema_errors(document) == []
    service = validate_llmservice(document)
    assert isinstance(service, LLMService)


def test_every_error_is_listed_one_per_line() -> None:
    document = merged(
        base(),
        spec(replicas=-1, service={"type": "Ingress"}, backend={"port": 0}),
    )
    with pytest.raises(InvalidLLMServiceError) as caught:
        validate_llmservice(document)
    lines = str(caught.value).splitlines()
    assert sorted(line.split(":")[0] for line in lines) == [
        "spec.backend.port",
        "spec.replicas",
        "spec.service.type",
    ]
    assert len(caught.value.errors) == 3


def test_several_cel_rules_report_together() -> None:
    document = merged(
        base(),
        spec(autoscaling={"minReplicas": 5, "maxReplicas": 4}, backend={"port": 11434}),
    )
    with pytest.raises(InvalidLLMServiceError) as caught:
        validate_llmservice(document)
    assert {e.path for e in caught.value.errors} == {
        "spec.autoscaling.minReplicas",
        "spec.backend.port",
    }


def test_missing_api_version_and_kind() -> None:
    document = base()
    del document["apiVersion"], document["kind"]
    with pytest.raises(InvalidLLMServiceError) as caught:
        validate_llmservice(document)
    assert [(e.path, e.reason) for e in caught.value.errors] == [
        ("apiVersion", "FieldValueRequired"),
        ("kind", "FieldValueRequired"),
    ]


def test_missing_metadata_name() -> None:
    document = base()
    document["metadata"] = {}
    with pytest.raises(InvalidLLMServiceError, match=r"metadata\.name: required field is missing"):
        validate_llmservice(document)


def test_not_a_mapping() -> None:
    with pytest.raises(InvalidLLMServiceError, match="must be a mapping"):
        validate_llmservice(["not", "an", "object"])  # type: ignore[arg-type]


def test_integers_are_accepted_as_quantities() -> None:
    document = merged(base(), spec(ollama={"resources": {"requests": {"cpu": 2, "memory": "1Gi"}}}))
    service = validate_llmservice(document)
    assert service.spec.ollama.resources.requests["cpu"] == "2"


def test_integral_floats_count_as_integers_as_the_api_server_reads_them() -> None:
    """JSON has one number type: the API server takes 2.0 where an integer is due."""
    document = merged(
        base(),
        spec(
            replicas=3.0,
            autoscaling={"enabled": False},
            ollama={"resources": {"requests": {"cpu": 2.0, "memory": "1Gi"}}},
        ),
    )
    service = validate_llmservice(document)
    assert service.spec.replicas == 3
    assert service.spec.ollama.resources.requests["cpu"] == "2"
    assert crd_schema_errors(document) == []


def test_the_result_is_defaulted() -> None:
    service = validate_llmservice(base())
    assert service.spec.model.name == "tinyllama"
    assert service.spec.autoscaling.max_replicas == 6


def test_a_stale_status_is_kept_when_readable_and_never_an_error() -> None:
    document = base()
    document["status"] = {"phase": "Ready", "replicas": 2}
    assert validate_llmservice(document).status is not None
    document["status"] = {"phase": "Exploded"}
    assert validate_llmservice(document).status is None


def test_a_null_target_switches_that_metric_off() -> None:
    document = merged(base(), spec(autoscaling={"targetCPUUtilizationPercentage": None}))
    service = validate_llmservice(document)
    assert service.spec.autoscaling.target_cpu_utilization_percentage is None
    assert (
        support.api_server_defaults(document)["spec"]["autoscaling"][
            "targetCPUUtilizationPercentage"
        ]
        is None
    )
    # without a CPU target, no CPU request is needed
    no_cpu = merged(
        document, spec(backend={"resources": {"requests": {"memory": "128Mi"}, "limits": {}}})
    )
    validate_llmservice(no_cpu)
    assert crd_cel_errors(no_cpu) == []


def test_a_rwx_claim_or_a_single_replica_is_fine() -> None:
    rwx = merged(base(), spec(model={"storage": {**PVC, "accessMode": "ReadWriteMany"}}))
    single = merged(
        base(),
        spec(model={"storage": PVC}, autoscaling={"enabled": False}, replicas=1),
    )
    existing = merged(base(), spec(model={"storage": {**PVC, "claimName": "mine"}}))
    for document in (rwx, single, existing):
        validate_llmservice(document)
        assert crd_cel_errors(document) == []


def test_limits_equal_to_requests_are_fine_in_any_notation() -> None:
    document = merged(
        base(),
        spec(
            ollama={
                "resources": {
                    "requests": {"cpu": 1, "memory": "1024Mi", "nvidia.com/gpu": 1},
                    "limits": {"cpu": "1000m", "memory": "1Gi", "nvidia.com/gpu": "1"},
                }
            }
        ),
    )
    validate_llmservice(document)
    assert crd_cel_errors(document) == []


def test_nulls_are_handled_as_the_api_server_does() -> None:
    """A null in a non-nullable field is dropped and defaulted; in a nullable one it stays."""
    document = merged(
        base(),
        spec(replicas=None, service={"nodePort": None}, model={"storage": {"size": None}}),
    )
    service = validate_llmservice(document)
    assert service.spec.replicas == 2
    assert service.spec.service.node_port is None
    assert service.spec.model.storage.size is None
    stored = support.api_server_defaults(document)["spec"]
    assert stored["replicas"] == 2
    assert "nodePort" not in stored["service"]
    assert stored["model"]["storage"]["size"] is None


@pytest.mark.parametrize(
    ("patch", "line"),
    [
        (spec(pod={"tolerations": ["x"]}), "spec.pod.tolerations[0]: must be an object"),
        (spec(pod={"affinity": "x"}), 'spec.pod.affinity: must be an object (a mapping), not "x"'),
        (spec(model={"storage": {"size": True}}), "spec.model.storage.size: must be a string"),
        (spec(backend={"env": {"A": "1"}}), "spec.backend.env: must be a list"),
        (
            spec(backend={"resources": {"requests": {"nvidia.com/gpu": "x"}}}),
            "spec.backend.resources.requests[nvidia.com/gpu]: must be a Kubernetes quantity",
        ),
        (
            spec(pod={"nodeSelector": {"a.b/c": 1}}),
            "spec.pod.nodeSelector[a.b/c]: must be a string",
        ),
        ({"spec": "x"}, 'spec: must be an object (a mapping), not "x"'),
    ],
)
def test_type_errors_read_as_yaml(patch: dict[str, Any], line: str) -> None:
    with pytest.raises(InvalidLLMServiceError) as caught:
        validate_llmservice(merged(base(), patch))
    assert any(text.startswith(line) for text in str(caught.value).splitlines()), caught.value
