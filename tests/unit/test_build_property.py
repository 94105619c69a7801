"""Properties of specs the models accept, and of specs they must refuse.

Accepted: specs generated over every field of the models, within their bounds and
patterns, survive ``LLMService.model_validate``, and the children they render pass the
strict upstream OpenAPI schemas of the oldest and newest supported Kubernetes, keep their
selectors consistent, and round-trip through ``render``'s YAML output unchanged. Those
schemas check structure and types only; what the API server checks beyond them (label
syntax, object names, resource names) is the models' job, which the second property and
tests/unit/test_validation.py cover: a float quantity, a bad map key or a bad object name
injected into a generated spec is refused, naming the field.

Tolerations, affinity and env ``valueFrom`` are typed in the models as in Kubernetes; here
they are generated from a few shapes Kubernetes defines (their bounds and cross-field rules
are tested in test_validation.py and tests/unit/test_bad_specs.py).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import kubernetes_validate
import pytest
import support
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llmservice_operator.api import naming
from llmservice_operator.api.models import (
    CONTAINER_RESOURCE_NAME_PATTERN,
    DNS1035_LABEL_PATTERN,
    DNS1123_SUBDOMAIN_PATTERN,
    ENV_NAME_PATTERN,
    IMAGE_PATTERN,
    KEEP_ALIVE_PATTERN,
    LABEL_VALUE_PATTERN,
    MODEL_NAME_PATTERN,
    POSITIVE_QUANTITY_PATTERN,
    QUALIFIED_NAME_PATTERN,
    QUANTITY_PATTERN,
    RESOURCE_NAME_PATTERN,
    SECRET_KEY_PATTERN,
    LLMService,
)
from llmservice_operator.api.validation import InvalidLLMServiceError
from llmservice_operator.builders import build_children, wants_budget
from llmservice_operator.tools.render import command as render
from llmservice_operator.tools.render.validation import validate_llmservice


def matching(pattern: str, max_size: int) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True).filter(lambda s: 0 < len(s) <= max_size)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def some_keys(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict with any subset of ``fields``: an absent key means the model's default."""
    return st.fixed_dictionaries({}, optional=fields)


def sections(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Every section present (their fields are optional), so deep fields vary as often as
    shallow ones instead of hiding behind several absent parents."""
    return st.fixed_dictionaries(fields)


label_keys = matching(QUALIFIED_NAME_PATTERN, 80).filter(lambda k: k.find("/") <= 253)
label_values = st.just("") | matching(LABEL_VALUE_PATTERN, 63)
labels_maps = st.dictionaries(label_keys, label_values, max_size=3)
annotation_maps = st.dictionaries(label_keys, st.text(max_size=20), max_size=3)
quantities = st.integers(min_value=0, max_value=10**6) | matching(QUANTITY_PATTERN, 64)
sizes = st.integers(min_value=1, max_value=10**6) | matching(POSITIVE_QUANTITY_PATTERN, 64)
images = matching(IMAGE_PATTERN, 80)
resource_maps = st.dictionaries(
    st.sampled_from(["cpu", "memory", "ephemeral-storage", "example.com/widget"]),
    quantities,
    max_size=3,
)
resources = some_keys(requests=resource_maps, limits=resource_maps)
pull_policies = st.sampled_from(["Always", "IfNotPresent", "Never"])
object_names = matching(DNS1123_SUBDOMAIN_PATTERN, 253)

value_from = st.sampled_from(
    [
        {"fieldRef": {"fieldPath": "metadata.name"}},
        {"secretKeyRef": {"name": "s", "key": "k", "optional": True}},
        {"configMapKeyRef": {"name": "c", "key": "k"}},
        {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
    ]
)
env_vars = st.builds(
    lambda name, value, source: (
        {"name": name, "value": value} if source is None else {"name": name, "valueFrom": source}
    ),
    matching(ENV_NAME_PATTERN, 253),
    st.text(max_size=30),
    optional(value_from),
)
env_lists = st.lists(env_vars, max_size=5, unique_by=lambda e: e["name"])

tolerations = st.builds(
    lambda key, exists, value, effect: {
        "key": key,
        "operator": "Exists" if exists else "Equal",
        **({} if exists else {"value": value}),
        **({"effect": effect} if effect else {}),
    },
    st.sampled_from(["nvidia.com/gpu", "dedicated", "example.com/llm"]),
    st.booleans(),
    st.sampled_from(["true", "llm", ""]),
    st.sampled_from([None, "NoSchedule", "PreferNoSchedule", "NoExecute"]),
)
affinities = st.sampled_from(
    [
        {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["llm"]}]}
                    ]
                }
            }
        },
        {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app": "x"}},
                        },
                    }
                ]
            }
        },
    ]
)

scaling_metrics = st.one_of(
    st.builds(
        lambda t, v: {"type": t, "targetUtilizationPercentage": v},
        st.sampled_from(["CPU", "Memory"]),
        st.integers(1, 1000),
    ),
    st.builds(
        lambda t, v, name: {
            "type": t,
            "targetAverageValue": v,
            **({"metricName": name} if name else {}),
        },
        st.sampled_from(["InFlightRequests", "QueuedRequests"]),
        st.integers(1, 10000),
        optional(st.from_regex(r"\A[a-z_][a-z0-9_]{0,40}\Z")),
    ),
)
scaling_policies = st.lists(
    st.builds(
        lambda t, v, p: {"type": t, "value": v, "periodSeconds": p},
        st.sampled_from(["Pods", "Percent"]),
        st.integers(1, 1000),
        st.integers(1, 1800),
    ),
    min_size=1,
    max_size=3,
)
scaling_rules = some_keys(
    stabilizationWindowSeconds=st.integers(0, 3600),
    selectPolicy=st.sampled_from(["Max", "Min", "Disabled"]),
    policies=scaling_policies,
)
int_or_percent = st.integers(1, 1000) | st.integers(1, 100).map(lambda n: f"{n}%")
spreads = some_keys(
    maxSkew=st.integers(1, 1000),
    topologyKey=st.sampled_from(["kubernetes.io/hostname", "topology.kubernetes.io/zone"]),
    whenUnsatisfiable=st.sampled_from(["ScheduleAnyway", "DoNotSchedule"]),
    nodeAffinityPolicy=st.sampled_from(["Honor", "Ignore"]),
    nodeTaintsPolicy=st.sampled_from(["Honor", "Ignore"]),
)

specs = sections(
    model=sections(
        name=matching(MODEL_NAME_PATTERN, 255),
        pullPolicy=pull_policies,
        keepAlive=matching(KEEP_ALIVE_PATTERN, 20),
        storage=some_keys(
            type=st.sampled_from(["EmptyDir", "PersistentVolumeClaim"]),
            size=optional(sizes),
            storageClassName=optional(object_names),
            claimName=optional(object_names),
            accessMode=st.sampled_from(["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"]),
        ),
    ),
    replicas=st.integers(0, 1000),
    autoscaling=some_keys(
        enabled=st.booleans(),
        minReplicas=st.integers(1, 1000),
        maxReplicas=st.integers(1, 1000),
        targetCPUUtilizationPercentage=optional(st.integers(1, 1000)),
        targetMemoryUtilizationPercentage=optional(st.integers(1, 1000)),
        scaleDownStabilizationSeconds=st.integers(0, 3600),
        metrics=st.lists(scaling_metrics, min_size=1, max_size=4),
        behavior=some_keys(scaleUp=scaling_rules, scaleDown=scaling_rules),
    ),
    podDisruptionBudget=some_keys(
        enabled=st.booleans(),
        maxUnavailable=int_or_percent,
    )
    | some_keys(minAvailable=int_or_percent),
    backend=some_keys(
        image=images,
        imagePullPolicy=pull_policies,
        port=st.integers(1, 65535),
        resources=resources,
        env=env_lists,
        maxConcurrentRequests=st.integers(1, 1024),
        maxQueuedRequests=st.integers(0, 10000),
        apiKeySecretRef=optional(
            some_keys(key=matching(SECRET_KEY_PATTERN, 253)).map(lambda d: {"name": "api", **d})
        ),
    ),
    ollama=some_keys(
        image=images,
        imagePullPolicy=pull_policies,
        resources=resources,
        env=env_lists,
        numParallel=st.integers(1, 64),
    ),
    service=some_keys(
        type=st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]),
        port=st.integers(1, 65535),
        nodePort=optional(st.integers(30000, 32767)),
        annotations=annotation_maps,
    ),
    pod=some_keys(
        nodeSelector=labels_maps,
        tolerations=st.lists(tolerations, max_size=3),
        affinity=optional(affinities),
        runtimeClassName=optional(object_names),
        priorityClassName=optional(object_names),
        serviceAccountName=optional(object_names),
        imagePullSecrets=st.lists(st.builds(lambda n: {"name": n}, object_names), max_size=2),
        labels=labels_maps,
        annotations=annotation_maps,
        terminationGracePeriodSeconds=st.integers(1, 3600),
        topologySpreadConstraints=st.lists(spreads, max_size=2),
    ),
    gpu=some_keys(count=st.integers(0, 16), resourceName=matching(RESOURCE_NAME_PATTERN, 253)),
)

documents = st.builds(
    lambda name, namespace, uid, spec: support.llmservice(
        spec, name=name, namespace=namespace, uid=uid
    ),
    matching(DNS1035_LABEL_PATTERN, 63),
    st.sampled_from(["default", "team-a"]),
    optional(st.uuids().map(str)),
    specs,
)
services = documents.map(LLMService.model_validate)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(service=services)
def test_any_accepted_spec_renders_valid_children(service: LLMService) -> None:
    children = build_children(service)

    for child in children:
        for version in support.KUBERNETES_VERSIONS:
            kubernetes_validate.validate(child, version, strict=True)

    by_kind = {c["kind"]: c for c in children}
    deployment = by_kind["Deployment"]
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = naming.selector_labels(service.metadata.name)
    assert deployment["spec"]["selector"]["matchLabels"] == selector
    assert selector.items() <= template_labels.items()
    assert by_kind["Service"]["spec"]["selector"] == selector
    assert ("replicas" in deployment["spec"]) != service.spec.autoscaling.enabled
    assert ("HorizontalPodAutoscaler" in by_kind) == service.spec.autoscaling.enabled
    assert ("PodDisruptionBudget" in by_kind) == wants_budget(service)
    if "PodDisruptionBudget" in by_kind:
        assert by_kind["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    pod = deployment["spec"]["template"]["spec"]
    for container in pod["containers"] + pod["initContainers"]:
        names = [e["name"] for e in container["env"]]
        assert len(names) == len(set(names))
    for child in children:
        refs = child["metadata"].get("ownerReferences", [])
        assert [r["uid"] for r in refs] == ([service.metadata.uid] if service.metadata.uid else [])

    # render's YAML output carries every child unchanged, whatever the strings hold.
    assert list(yaml.safe_load_all(render.format_children(children, "yaml"))) == children


def _misses(pattern: str) -> Any:
    return lambda text: re.fullmatch(pattern.strip("^$"), text) is None


# What the API server refuses and the upstream OpenAPI schemas cannot see: each entry is
# (where in spec, the bad value, the field an error must name).
non_integral_floats = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda f: not f.is_integer()
)
bad_label_keys = st.text(max_size=30).filter(_misses(QUALIFIED_NAME_PATTERN))
bad_resource_names = st.text(max_size=30).filter(_misses(CONTAINER_RESOURCE_NAME_PATTERN))
bad_object_names = st.text(max_size=30).filter(_misses(DNS1123_SUBDOMAIN_PATTERN))
bad_label_values = st.text(max_size=70).filter(
    lambda v: len(v) > 63 or re.fullmatch(LABEL_VALUE_PATTERN.strip("^$"), v) is None
)
injections = st.one_of(
    st.builds(
        lambda f: (
            ("backend", "resources", "requests", "cpu"),
            f,
            "spec.backend.resources.requests.cpu",
        ),
        non_integral_floats,
    ),
    st.builds(
        lambda f: (("model", "storage", "size"), f, "spec.model.storage.size"), non_integral_floats
    ),
    st.builds(lambda k: (("pod", "labels", k), "v", "spec.pod.labels"), bad_label_keys),
    st.builds(lambda k: (("pod", "annotations", k), "v", "spec.pod.annotations"), bad_label_keys),
    st.builds(lambda k: (("pod", "nodeSelector", k), "v", "spec.pod.nodeSelector"), bad_label_keys),
    st.builds(
        lambda k: (("service", "annotations", k), "v", "spec.service.annotations"), bad_label_keys
    ),
    st.builds(lambda v: (("pod", "labels", "app"), v, "spec.pod.labels.app"), bad_label_values),
    st.builds(
        lambda k: (("ollama", "resources", "limits", k), "1", "spec.ollama.resources.limits"),
        bad_resource_names,
    ),
    *[
        st.builds(lambda n, f=field: (("pod", f), n, f"spec.pod.{f}"), bad_object_names)
        for field in ("serviceAccountName", "priorityClassName", "runtimeClassName")
    ],
)


def injected(document: dict[str, Any], where: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(document)
    support.put(out["spec"], where, value)
    return out


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(document=documents, injection=injections)
def test_what_the_api_server_refuses_is_refused_naming_the_field(
    document: dict[str, Any], injection: tuple[tuple[str, ...], Any, str]
) -> None:
    where, value, field = injection
    with pytest.raises(InvalidLLMServiceError) as caught:
        validate_llmservice(injected(document, where, value))
    assert field in [e.path for e in caught.value.errors], (field, str(caught.value))
