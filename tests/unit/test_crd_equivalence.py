"""Property: ``validate_llmservice`` (render) accepts an LLMService exactly when
the API server would store it with our CRD installed, that is when the CRD's OpenAPI schema
(strict, as ``kubectl apply --validate=strict``) and then its CEL rules accept the defaulted
object.

Documents start from specs near the valid ones (so both outcomes are common and the CEL
rules get exercised) and then take a few mutations: non-integral floats, arbitrary strings
and integers, booleans, nulls, lists and objects at any field, and arbitrary keys in the
maps. Integral floats (``2.0``) are left out: both sides read them as integers, see
test_validation.py. Metadata beyond the name is the API server's own business (namespace,
labels) and stays valid here.
"""

from __future__ import annotations

import copy
from typing import Any

import support
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from llmservice_operator.api.validation import InvalidLLMServiceError
from llmservice_operator.tools.render.validation import validate_llmservice

floats = st.integers(-(10**6), 10**6).map(lambda i: i + 0.5) | st.sampled_from(
    [0.1, 1e-9, -2.75, 1.5e300]
)
junk = st.one_of(
    floats,
    st.text(max_size=12),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.none(),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(0, 3), max_size=2),
)
keys = st.text(max_size=12) | st.sampled_from(
    [
        "app",
        "example.com/team",
        "nvidia.com/gpu",
        "cpu",
        "memory",
        "hugepages-2Mi",
        "Bad Key",
        "a/b/c",
        "-x",
        "gpu",
        "x" * 64,
        "a" * 254 + "/x",
        "abc\n",
    ]
)
quantities = floats | st.sampled_from(["1", "500m", "1Gi", "4Gi", 2, 0, -1, "2Gb", "1e3", ""])
resource_maps = st.dictionaries(st.sampled_from(["cpu", "memory"]) | keys, quantities, max_size=3)
resources = st.fixed_dictionaries({}, optional={"requests": resource_maps, "limits": resource_maps})
env = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["A", "B", "1X", ""])},
        optional={"value": st.text(max_size=3), "valueFrom": st.just({"fieldRef": {}})},
    ),
    max_size=2,
)


def some(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


specs = some(
    replicas=st.integers(0, 3),
    autoscaling=some(
        enabled=st.booleans(),
        minReplicas=st.integers(1, 3),
        maxReplicas=st.integers(1, 3),
        targetCPUUtilizationPercentage=st.none() | st.integers(1, 100),
        targetMemoryUtilizationPercentage=st.none() | st.integers(1, 100),
        metrics=st.lists(
            some(
                type=st.sampled_from(["CPU", "Memory", "InFlightRequests", "QueuedRequests"]),
                targetUtilizationPercentage=st.integers(0, 101),
                targetAverageValue=st.integers(0, 40),
                metricName=st.sampled_from(["queued", "in flight"]),
            ),
            max_size=3,
        ),
        behavior=some(
            scaleUp=some(
                stabilizationWindowSeconds=st.integers(3599, 3601),
                policies=st.lists(
                    some(
                        type=st.sampled_from(["Pods", "Percent"]),
                        value=st.integers(0, 2),
                        periodSeconds=st.integers(1800, 1801),
                    ),
                    max_size=2,
                ),
            ),
        ),
    ),
    podDisruptionBudget=some(
        enabled=st.booleans(),
        maxUnavailable=st.sampled_from([0, 1, 2, "50%", "0%", "101%", "half", "5"]),
        minAvailable=st.sampled_from([1, 2, 3, "50%"]),
    ),
    model=some(
        pullPolicy=st.sampled_from(["Always", "IfNotPresent", "Never"]),
        storage=some(
            type=st.sampled_from(["EmptyDir", "PersistentVolumeClaim"]),
            size=st.none() | st.sampled_from(["5Gi", 5]),
            claimName=st.sampled_from(["models", "Models"]),
            accessMode=st.sampled_from(["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"]),
            storageClassName=st.sampled_from(["fast", "Fast SSD"]),
        ),
    ),
    service=some(
        type=st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]),
        nodePort=st.integers(29999, 30001),
        annotations=st.dictionaries(keys, st.text(max_size=4), max_size=2),
    ),
    gpu=some(count=st.integers(0, 2)),
    backend=some(port=st.sampled_from([8080, 11434]), resources=resources, env=env),
    ollama=some(resources=resources, env=env),
    pod=some(
        labels=st.dictionaries(keys, st.sampled_from(["v", "", "a b", "x" * 64]), max_size=2),
        nodeSelector=st.dictionaries(keys, st.sampled_from(["llm", "a/b"]), max_size=2),
        annotations=st.dictionaries(keys, st.text(max_size=4), max_size=2),
        serviceAccountName=st.sampled_from(["llm", "LLM", ""]) | st.text(max_size=6),
        imagePullSecrets=st.lists(some(name=st.sampled_from(["reg", "Reg Cred"])), max_size=1),
        topologySpreadConstraints=st.lists(
            some(
                maxSkew=st.integers(0, 2),
                topologyKey=st.sampled_from(["kubernetes.io/hostname", "a zone"]),
                whenUnsatisfiable=st.sampled_from(["ScheduleAnyway", "DoNotSchedule"]),
                minDomains=st.integers(0, 2),
            ),
            max_size=2,
        ),
    ),
)

PATHS = [
    ("replicas",),
    ("autoscaling", "enabled"),
    ("autoscaling", "minReplicas"),
    ("autoscaling", "targetCPUUtilizationPercentage"),
    ("model", "name"),
    ("model", "keepAlive"),
    ("model", "storage", "size"),
    ("model", "storage", "claimName"),
    ("model", "storage", "type"),
    ("backend", "port"),
    ("backend", "resources", "requests", "cpu"),
    ("backend", "resources", "limits"),
    ("backend", "apiKeySecretRef"),
    ("backend", "apiKeySecretRef", "key"),
    ("backend", "env"),
    ("ollama", "resources", "requests", "memory"),
    ("ollama", "numParallel"),
    ("service", "type"),
    ("service", "nodePort"),
    ("pod", "labels"),
    ("pod", "tolerations"),
    ("pod", "affinity"),
    ("pod", "priorityClassName"),
    ("pod", "terminationGracePeriodSeconds"),
    ("gpu", "count"),
    ("gpu", "resourceName"),
    ("autoscaling", "metrics"),
    ("autoscaling", "behavior", "scaleDown", "policies"),
    ("podDisruptionBudget", "maxUnavailable"),
    ("pod", "topologySpreadConstraints"),
    ("surprise",),
]
mutations = st.lists(st.tuples(st.sampled_from(PATHS), junk), max_size=2)


def mutated(spec: dict[str, Any], changes: list[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    out = copy.deepcopy(spec)
    for path, value in changes:
        support.put(out, path, value)
    return out


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(spec=specs, changes=mutations)
def test_validate_llmservice_accepts_exactly_what_the_crd_accepts(
    spec: dict[str, Any], changes: list[tuple[tuple[str, ...], Any]]
) -> None:
    document = support.llmservice(mutated(spec, changes))
    api_server = support.crd_accepts(document)
    try:
        validate_llmservice(document)
        ours, why = True, ""
    except InvalidLLMServiceError as error:
        ours, why = False, str(error)
    note(f"ours: {why or 'accepted'}")
    note(f"CRD schema: {support.crd_schema_errors(document)}")
    assert ours == api_server
