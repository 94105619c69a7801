"""What shows a service to the cluster: the NetworkPolicy, the route (HTTPRoute or
Ingress) and the PodMonitor, built from the spec (pure builders), their conditions
(core/exposure.py) and the cached discovery that decides whether the CRD-backed kinds are
applied (runtime/discovery.py, with a fake API)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import support
from hypothesis import given, settings
from hypothesis import strategies as st
from llmservice_operator.api import naming
from llmservice_operator.api.models import OLLAMA_PORT, LLMService
from llmservice_operator.builders import build_children
from llmservice_operator.builders.deployment import METRICS_PORT_NAME, build_deployment
from llmservice_operator.core import exposure
from llmservice_operator.core.planner import LiveChild, plan, with_hash
from llmservice_operator.runtime.discovery import Discovery
from llmservice_operator.runtime.kube import HTTPROUTE, INGRESS, POD_MONITOR
from llmservice_operator.tools.render.validation import validate_llmservice

UID = "0b9c7c3e-5d1e-4f0a-9d6b-1f2e3d4c5b6a"
GATEWAY = {"httpRoute": {"parentRefs": [{"name": "public", "namespace": "gateways"}]}}


def make(spec: dict[str, Any], namespace: str = "team-a") -> LLMService:
    """Through the CRD's checks, as the API server would store it."""
    return validate_llmservice(support.llmservice(spec, namespace=namespace, uid=UID))


def kinds(service: LLMService) -> dict[str, dict[str, Any]]:
    return {c["kind"]: c for c in build_children(service)}


# --------------------------------------------------------------------------------------
# what is built, and when


def test_nothing_by_default() -> None:
    default = {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    assert set(kinds(make({}))) == default


def test_each_option_adds_its_child_owned_and_labelled() -> None:
    service = make(
        {
            "route": GATEWAY,
            "monitoring": {"enabled": True},
            "networkPolicy": {"enabled": True, "metricsFromNamespaces": ["monitoring"]},
        }
    )
    built = kinds(service)
    for kind in ("NetworkPolicy", "HTTPRoute", "PodMonitor"):
        meta = built[kind]["metadata"]
        assert meta["name"] == "chat"
        assert meta["ownerReferences"][0]["uid"] == UID
        assert meta["labels"][naming.SERVICE_LABEL] == "chat"


def test_the_pod_monitor_scrapes_the_metrics_port_of_our_pods_only() -> None:
    service = make({"monitoring": {"enabled": True, "interval": "1m", "labels": {"team": "x"}}})
    monitor = kinds(service)["PodMonitor"]
    assert monitor["spec"]["selector"]["matchLabels"] == naming.selector_labels("chat")
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint == {"port": METRICS_PORT_NAME, "path": "/metrics", "interval": "1m"}
    ports = build_deployment(service)["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert METRICS_PORT_NAME in {p["name"] for p in ports}  # the port it names exists
    assert monitor["metadata"]["labels"]["team"] == "x"


def test_our_labels_win_over_the_monitors_extra_labels() -> None:
    service = make({"monitoring": {"enabled": True, "labels": {naming.INSTANCE_LABEL: "other"}}})
    assert kinds(service)["PodMonitor"]["metadata"]["labels"][naming.INSTANCE_LABEL] == "chat"


def test_the_http_route_sends_everything_to_the_service_port_with_the_backends_timeout() -> None:
    service = make(
        {
            "route": {**GATEWAY, "httpRoute": {**GATEWAY["httpRoute"], "hostnames": ["a.b.c"]}},
            "service": {"port": 8000},
            "backend": {"timeouts": {"requestSeconds": 900}},
        }
    )
    route = kinds(service)["HTTPRoute"]["spec"]
    assert route["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "public",
            "namespace": "gateways",
        }
    ]
    assert route["hostnames"] == ["a.b.c"]
    (rule,) = route["rules"]
    assert rule["backendRefs"][0]["name"] == "chat"
    assert rule["backendRefs"][0]["port"] == 8000
    assert rule["timeouts"] == {"request": "900s", "backendRequest": "900s"}


@pytest.mark.parametrize(
    ("seconds", "expected"), [(60, {"request": "60s", "backendRequest": "60s"}), (0, None)]
)
def test_the_route_timeout_can_be_set_or_left_out(seconds: int, expected: Any) -> None:
    route = {"httpRoute": {**GATEWAY["httpRoute"], "timeoutSeconds": seconds}}
    rule = kinds(make({"route": route}))["HTTPRoute"]["spec"]["rules"][0]
    assert rule.get("timeouts") == expected


def test_the_ingress_carries_class_host_tls_and_annotations() -> None:
    ingress_spec = {
        "className": "nginx",
        "host": "chat.example.com",
        "tlsSecretName": "tls",
        "annotations": {"nginx.ingress.kubernetes.io/proxy-read-timeout": "1200"},
    }
    ingress = kinds(make({"route": {"ingress": ingress_spec}}))["Ingress"]
    assert ingress["metadata"]["annotations"] == ingress_spec["annotations"]
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["chat.example.com"], "secretName": "tls"}]
    (rule,) = spec["rules"]
    assert rule["host"] == "chat.example.com"
    assert rule["http"]["paths"][0]["backend"]["service"] == {
        "name": "chat",
        "port": {"number": 80},
    }


def test_an_ingress_without_host_answers_every_host() -> None:
    spec = kinds(make({"route": {"ingress": {}}}))["Ingress"]["spec"]
    assert "host" not in spec["rules"][0]
    assert "tls" not in spec
    assert "ingressClassName" not in spec


def _ports(policy: dict[str, Any]) -> list[int]:
    return [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]]


def test_the_network_policy_admits_the_named_peers_to_the_backend_port_only() -> None:
    service = make(
        {
            "networkPolicy": {
                "enabled": True,
                "allowFrom": [
                    {"namespace": "web", "podLabels": {"app": "ui"}},
                    {"namespace": "team-a"},
                    {"podLabels": {"role": "rag"}},
                ],
            },
            "backend": {"port": 8000},
        }
    )
    policy = kinds(service)["NetworkPolicy"]
    assert policy["spec"]["podSelector"]["matchLabels"] == naming.selector_labels("chat")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert _ports(policy) == [8000]
    assert rule["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "web"}},
            "podSelector": {"matchLabels": {"app": "ui"}},
        },
        {"podSelector": {}},  # its own namespace: a pod selector alone says so
        {"podSelector": {"matchLabels": {"role": "rag"}}},
    ]


def test_the_network_policy_defaults_to_the_own_namespace() -> None:
    policy = kinds(make({"networkPolicy": {"enabled": True}}))["NetworkPolicy"]
    assert policy["spec"]["ingress"] == [
        {"from": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": 8080}]}
    ]


def test_the_metrics_port_only_from_the_monitoring_namespaces() -> None:
    service = make(
        {"networkPolicy": {"enabled": True, "metricsFromNamespaces": ["monitoring", "obs"]}}
    )
    policy = kinds(service)["NetworkPolicy"]
    assert _ports(policy) == [8080, 9090]
    metrics_rule = policy["spec"]["ingress"][1]
    assert [
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for p in metrics_rule["from"]
    ] == ["monitoring", "obs"]


@settings(max_examples=40, deadline=None)
@given(
    port=st.integers(1, 65535).filter(lambda p: p != OLLAMA_PORT),
    namespaces=st.lists(st.sampled_from(["a", "b", "monitoring"]), max_size=3),
    peers=st.lists(
        st.sampled_from([{}, {"namespace": "x"}, {"podLabels": {"k": "v"}}]), max_size=3
    ),
)
def test_ollamas_port_is_never_admitted(port: int, namespaces: list[str], peers: list[Any]) -> None:
    spec = {
        "backend": {"port": port},
        "networkPolicy": {"enabled": True, "allowFrom": peers, "metricsFromNamespaces": namespaces},
    }
    policy = kinds(make(spec))["NetworkPolicy"]
    assert OLLAMA_PORT not in _ports(policy)
    assert port in _ports(policy)


def test_built_policies_and_ingresses_validate_against_the_kubernetes_schemas() -> None:
    import kubernetes_validate

    service = make(
        {
            "route": {
                "ingress": {"className": "nginx", "host": "*.example.com", "tlsSecretName": "t"}
            },
            "networkPolicy": {
                "enabled": True,
                "allowFrom": [{"namespace": "x", "podLabels": {"a": "b"}}],
                "metricsFromNamespaces": ["m"],
            },
        }
    )
    for child in build_children(service):
        for version in support.KUBERNETES_VERSIONS:
            kubernetes_validate.validate(child, version, strict=True)


@settings(max_examples=30, deadline=None)
@given(
    hostnames=st.lists(
        st.sampled_from(["chat.example.com", "*.example.com", "a"]), unique=True, max_size=3
    ),
    section=st.one_of(st.none(), st.sampled_from(["https", "web.1"])),
    timeout=st.one_of(st.none(), st.integers(0, 86400)),
)
def test_every_http_route_is_one_the_gateway_api_crd_accepts(
    hostnames: list[str], section: str | None, timeout: int | None
) -> None:
    ref: dict[str, Any] = {"name": "gw"}
    if section is not None:
        ref["sectionName"] = section
    route: dict[str, Any] = {"parentRefs": [ref], "hostnames": hostnames}
    if timeout is not None:
        route["timeoutSeconds"] = timeout
    built = kinds(make({"route": {"httpRoute": route}}))["HTTPRoute"]
    assert support.foreign_kind_errors(built) == []


# --------------------------------------------------------------------------------------
# turning an option off deletes its child (the planner, given the live children)


def test_an_option_turned_off_leaves_its_child_to_be_deleted() -> None:
    before = make({"route": {"ingress": {}}, "networkPolicy": {"enabled": True}})
    live = {
        m["kind"]: LiveChild.of(
            {**with_hash(m), "metadata": {**with_hash(m)["metadata"], "uid": f"u-{m['kind']}"}}
        )
        for m in build_children(before)
    }
    after = [with_hash(m) for m in build_children(make({}))]
    unwanted = [live["Ingress"], live["NetworkPolicy"]]
    result = plan(
        after,
        {
            k: v
            for k, v in live.items()
            if k in {"Deployment", "Service", "HorizontalPodAutoscaler"}
        },
        "chat",
        UID,
        unwanted,
    )
    deleted = sorted(a.kind for a in result.actions if not hasattr(a, "manifest"))
    assert deleted == ["Ingress", "NetworkPolicy"]


# --------------------------------------------------------------------------------------
# conditions


def spec_of(spec: dict[str, Any]) -> Any:
    return make(spec).spec


def test_no_condition_without_the_options() -> None:
    assert exposure.exposure_conditions(spec_of({}), "chat", set(), 30) == []


def test_a_missing_prometheus_operator_is_said_not_degraded() -> None:
    (cond,) = exposure.exposure_conditions(
        spec_of({"monitoring": {"enabled": True}}), "chat", {"PodMonitor"}, 30
    )
    assert cond["type"] == "Monitoring"
    assert cond["status"] == "False"
    assert cond["reason"] == exposure.PROMETHEUS_OPERATOR_MISSING
    assert "monitoring.coreos.com/v1 PodMonitor" in cond["message"]
    assert "every 30 s" in cond["message"]


def test_route_conditions() -> None:
    gw = spec_of({"route": GATEWAY})
    assert exposure.exposure_conditions(gw, "chat", {"HTTPRoute"}, 30)[0]["reason"] == (
        exposure.GATEWAY_API_MISSING
    )
    assert exposure.exposure_conditions(gw, "chat", set(), 30)[0]["status"] == "True"
    ing = spec_of({"route": {"ingress": {}}})
    assert exposure.exposure_conditions(ing, "chat", {"HTTPRoute"}, 30)[0]["reason"] == (
        exposure.INGRESS_CREATED
    )


def test_a_warning_once_per_turn_to_false() -> None:
    false = {
        "type": "Monitoring",
        "status": "False",
        "reason": "PrometheusOperatorMissing",
        "message": "m",
    }
    true = {**false, "status": "True", "reason": "PodMonitorCreated"}
    assert exposure.exposure_warnings([], [false]) == [("PrometheusOperatorMissing", "m")]
    assert exposure.exposure_warnings([false], [false]) == []
    assert exposure.exposure_warnings([true], [false]) == [("PrometheusOperatorMissing", "m")]
    assert exposure.exposure_warnings([false], [true]) == []


# --------------------------------------------------------------------------------------
# discovery


class FakeKube:
    def __init__(self, served: dict[str, list[str] | None]) -> None:
        self.served = served
        self.asked: list[str] = []

    async def resources(self, api_version: str) -> list[str] | None:
        self.asked.append(api_version)
        return self.served.get(api_version)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_discovery_caches_and_rechecks_the_missing_only_after_a_while() -> None:
    kube = FakeKube({"networking.k8s.io/v1": ["ingresses"]})
    clock = Clock()
    found = Discovery(kube, missing_ttl=30, served_ttl=600, clock=clock)  # type: ignore[arg-type]

    async def run() -> None:
        assert not await found.served(POD_MONITOR)
        assert not await found.served(POD_MONITOR)
        assert kube.asked == ["monitoring.coreos.com/v1"]  # cached
        assert found.seconds_to_recheck(POD_MONITOR) == 30
        clock.now = 31
        kube.served["monitoring.coreos.com/v1"] = ["podmonitors", "servicemonitors"]
        assert await found.served(POD_MONITOR)  # asked again: installed since
        assert len(kube.asked) == 2
        clock.now = 300
        assert await found.served(POD_MONITOR)
        assert len(kube.asked) == 2  # a served kind is believed for longer
        assert await found.served(INGRESS)
        # a served group without the kind is not the kind served
        kube.served["gateway.networking.k8s.io/v1"] = ["gateways"]
        assert not await found.served(HTTPROUTE)
        found.forget(POD_MONITOR)
        kube.served["monitoring.coreos.com/v1"] = None
        assert not await found.served(POD_MONITOR)

    asyncio.run(run())


def test_a_failed_discovery_is_neither_missing_nor_asked_by_every_pass() -> None:
    """An unanswered discovery request must not tell the user the CRDs are missing, nor
    be repeated at once by every waiting pass; a known answer outlives a failure."""
    import kopf

    class FailingKube(FakeKube):
        fail = True

        async def resources(self, api_version: str) -> list[str] | None:
            self.asked.append(api_version)
            if self.fail:
                raise kopf.TemporaryError("timed out")
            return self.served.get(api_version)

    kube = FailingKube({"monitoring.coreos.com/v1": ["podmonitors"]})
    clock = Clock()
    found = Discovery(kube, missing_ttl=30, served_ttl=600, clock=clock)  # type: ignore[arg-type]

    async def run() -> None:
        for _ in range(3):
            with pytest.raises(kopf.TemporaryError, match="could not be discovered"):
                await found.served(POD_MONITOR)
        assert len(kube.asked) == 1  # the others did not ask again so soon
        clock.now = 10
        kube.fail = False
        assert await found.served(POD_MONITOR)
        clock.now = 700
        kube.fail = True
        assert await found.served(POD_MONITOR)  # stale, unconfirmed: the last answer holds

    asyncio.run(run())
