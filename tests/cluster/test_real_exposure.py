"""Routes and network policies on the real control plane, with the Gateway API's own CRDs
(standard channel of sigs.k8s.io/gateway-api v1.6.3, fetched once per machine by
``make gateway-api-crds``): the HTTPRoute the operator builds is one the real API server
accepts (its schema and CEL rules), a missing Gateway API is reported until the CRDs are
installed, and the Ingress and NetworkPolicy are accepted, restored and removed.

The Prometheus Operator's CRDs cannot be had here (the Go module proxy serves only its
``pkg/apis/monitoring`` module, without CRD files): PodMonitor detection is tested on the
emulator with a registered stand-in (tests/integration/test_operator_exposure.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from llmservice_testkit import gatewayapi
from realcluster import Real, apply, llms, operator_in, service_doc, wait_for
from test_real_lifecycle import condition, wait_condition

pytestmark = pytest.mark.slow
HTTPROUTE_CRD = "httproutes.gateway.networking.k8s.io"


@pytest.fixture(scope="module")
def crd_folder() -> Path:
    try:
        return gatewayapi.ensure()
    except gatewayapi.BuildUnavailable as exc:
        pytest.skip(f"the Gateway API CRDs cannot be had here: {exc}")


def get(real: Real, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
    done = real.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return dict(json.loads(done.stdout)) if done.returncode == 0 else None


def install_gateway_api(real: Real, folder: Path) -> None:
    for path in sorted(folder.glob("gateway.networking.k8s.io_*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        if all(d.get("kind") == "CustomResourceDefinition" for d in docs):
            real.kubectl("apply", "--server-side", "-f", str(path))
    wait_for(
        lambda: real.kubectl("get", "httproutes", "-A", check=False).returncode == 0,
        "HTTPRoutes to be served",
    )


def remove_httproute_crd(real: Real) -> None:
    real.kubectl("delete", "crd", HTTPROUTE_CRD, "--ignore-not-found", "--wait=true")
    wait_for(
        lambda: real.kubectl("get", "httproutes", "-A", check=False).returncode != 0,
        "HTTPRoutes no longer served",
    )


ROUTE = {
    "httpRoute": {
        "parentRefs": [{"name": "public", "namespace": "gateways", "sectionName": "https"}],
        "hostnames": ["chat.example.com", "*.chat.example.com"],
    }
}


def test_the_gateway_api_missing_is_reported_then_the_route_is_created(
    real: Real, namespace: str, tmp_path: Path, crd_folder: Path
) -> None:
    remove_httproute_crd(real)
    with operator_in(
        real, [namespace], tmp_path / "operator.log", LLMSERVICE_DISCOVERY_RECHECK="1"
    ) as op:
        try:
            apply(real, namespace, service_doc("routed", route=ROUTE))
            doc = wait_condition(real, namespace, "routed", "Route", "False", "GatewayAPIMissing")
            assert condition(doc, "Degraded").get("status") != "True"
            assert get(real, namespace, "deployment", "routed") is not None
            install_gateway_api(real, crd_folder)
            route = wait_for(
                lambda: get(real, namespace, "httproute", "routed"), "the HTTPRoute", 60
            )
            wait_condition(real, namespace, "routed", "Route", "True", "HTTPRouteCreated")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\noperator log:\n{op.logs()}") from None
    spec = route["spec"]
    assert spec["hostnames"] == ["chat.example.com", "*.chat.example.com"]
    (rule,) = spec["rules"]
    assert rule["backendRefs"][0]["name"] == "routed"
    assert rule["timeouts"] == {"request": "1200s", "backendRequest": "1200s"}
    owner = route["metadata"]["ownerReferences"][0]
    assert owner["uid"] == llms(real, namespace, "routed")["metadata"]["uid"]


def test_routes_and_policies_restored_switched_and_removed(
    real: Real, namespace: str, tmp_path: Path, crd_folder: Path
) -> None:
    install_gateway_api(real, crd_folder)
    spec = {
        "replicas": 1,
        "autoscaling": {"enabled": False},
        "route": ROUTE,
        "networkPolicy": {
            "enabled": True,
            "allowFrom": [{"namespace": "gateways"}, {"podLabels": {"app": "open-webui"}}],
            "metricsFromNamespaces": ["monitoring"],
        },
    }
    with operator_in(real, [namespace], tmp_path / "operator.log") as op:
        try:
            apply(real, namespace, service_doc("shown", **spec))
            wait_for(lambda: get(real, namespace, "httproute", "shown"), "the HTTPRoute", 60)
            policy = wait_for(
                lambda: get(real, namespace, "networkpolicy", "shown"), "the NetworkPolicy", 60
            )
            ports = [p["port"] for r in policy["spec"]["ingress"] for p in r["ports"]]
            assert ports == [8080, 9090]

            # as desired, nothing is written again: what the API server stores of the
            # HTTPRoute and the NetworkPolicy (its defaults) is never taken for drift
            wait_condition(real, namespace, "shown", "Ready", "True")
            time.sleep(3)  # the last status write settles
            mark = real.audit_mark()
            time.sleep(10)
            assert real.writes(mark) == []

            # drift on a Gateway API object is restored (the operator watches it)
            real.kubectl(
                "patch", "httproute", "shown", "-n", namespace, "--type=merge",
                "-p", '{"spec": {"hostnames": ["evil.example.com"]}}',
            )  # fmt: skip
            wait_for(
                lambda: (
                    (get(real, namespace, "httproute", "shown") or {})["spec"]["hostnames"]
                    == ["chat.example.com", "*.chat.example.com"]
                ),
                "the HTTPRoute's hostnames restored",
                60,
            )

            # HTTPRoute -> Ingress with TLS
            ingress = {"className": "nginx", "host": "chat.example.com", "tlsSecretName": "tls"}
            doc = service_doc("shown", **{**spec, "route": {"ingress": ingress}})
            apply(real, namespace, doc)
            wait_for(
                lambda: get(real, namespace, "httproute", "shown") is None,
                "the HTTPRoute deleted",
                60,
            )
            found = wait_for(lambda: get(real, namespace, "ingress", "shown"), "the Ingress", 60)
            assert found["spec"]["tls"] == [{"hosts": ["chat.example.com"], "secretName": "tls"}]

            # everything off
            apply(real, namespace, service_doc("shown", replicas=1, autoscaling={"enabled": False}))
            for kind in ("ingress", "networkpolicy"):
                wait_for(
                    lambda k=kind: get(real, namespace, k, "shown") is None,
                    f"the {kind} deleted",
                    60,
                )
            assert get(real, namespace, "deployment", "shown") is not None
        except AssertionError as exc:
            raise AssertionError(f"{exc}\noperator log:\n{op.logs()}") from None
