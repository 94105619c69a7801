"""The operator's RBAC grants exactly what the operator uses.

The real operator runs against the local API server under an identity of its own (a bearer
token that only its kubeconfig carries, as a ServiceAccount token would be in a cluster).
The server is extended here with an authorizer that works like the kube-apiserver's RBAC:
every request made with that token is turned into request attributes (apiGroup, resource
with subresource, verb, namespace, name) by the same rules as the API server's
RequestInfoFactory, checked against the role from ``deploy/``, and refused with 403
Forbidden when the role does not allow it. A server-side apply that creates its object
needs ``create`` as well as ``patch``, as in the API server's patch handler.

So a missing grant is not only reported: the operator really meets the 403 it would meet in
a cluster, and the lifecycle stalls. After a lifecycle that goes through every path the
operator has (create, pods ready, spec update, autoscaling off and on, a network policy,
route and monitor turned on, switched and off, persistent model storage, a deleted child
restored, a name conflict, delete), the test asserts that nothing
was refused and that every (apiGroup, resource, verb) the role grants was used: the role is
exactly what the operator needs.

The namespaced variant (``deploy/namespaced/role.yaml``, a Role bound in one namespace) is
run the same way. A Role cannot grant cluster-scoped resources, so the operator must make
no cluster-scoped request at all there (kopf's namespace and CRD scanning is off when the
operator watches named namespaces; with it on, kopf retried the 403s for about a minute
before falling back).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml
from llmservice_operator.runtime.kube import USER_AGENT
from llmservice_testkit.emulator import kubeconfig as kubeconfig_mod
from llmservice_testkit.emulator import thread as thread_mod
from llmservice_testkit.emulator.errors import ApiError
from llmservice_testkit.emulator.server import ApiServer
from llmservice_testkit.pytest_plugin import api_client_for
from operator_helpers import ROOT, Cluster, install_crd, running_operator, wait_for
from test_operator_exposure import Children, install_stand_in

CLUSTER_ROLE = ROOT / "deploy" / "rbac" / "cluster" / "clusterrole.yaml"
NAMESPACED_ROLE = ROOT / "deploy" / "namespaced" / "role.yaml"
OPERATOR_TOKEN = "rbac-test-llmservice-operator"
OPERATOR_USER = "system:serviceaccount:llmservice-system:llmservice-operator"
APPLY_PATCH = "application/apply-patch+yaml"
# Non-resource URLs every authenticated user may GET in a cluster (the system:discovery and
# system:public-info-viewer ClusterRoles): no grant of ours is needed for them.
DISCOVERY_PREFIXES = ("/api", "/apis", "/version", "/openapi", "/healthz", "/livez", "/readyz")
API_PREFIXES = ("api", "apis")
SPECIAL_VERBS = ("proxy", "watch")
NAMESPACE_SUBRESOURCES = ("status", "finalize")
# Seconds a lifecycle step may take: generous, the machine is shared (no timing is asserted).
WAIT = 60.0


# --------------------------------------------------------------------------------------
# the API server's view of a request, and RBAC rules


@dataclass(frozen=True)
class Attributes:
    """What RBAC decides on. ``resource`` includes the subresource (``llmservices/status``);
    ``namespace`` is None for cluster-scoped requests; ``group`` is None for non-resource
    URLs (then ``resource`` holds the path)."""

    group: str | None
    resource: str
    verb: str
    namespace: str | None = None
    name: str | None = None

    @property
    def is_resource(self) -> bool:
        return self.group is not None

    def grant(self) -> tuple[str, str, str]:
        return (self.group or "", self.resource, self.verb)

    def __str__(self) -> str:
        if not self.is_resource:
            return f"{self.verb} {self.resource} (non-resource URL)"
        where = f" in namespace {self.namespace}" if self.namespace else " (cluster scope)"
        group = self.group or "core"
        return f"{self.verb} {self.resource} ({group}){where}" + (
            f" name={self.name}" if self.name else ""
        )


def request_attributes(method: str, path: str, query: Mapping[str, str]) -> Attributes:
    """Request attributes as the kube-apiserver derives them from a URL.

    Resource requests are ``/api/v1/...`` and ``/apis/<group>/<version>/...`` with a
    resource; anything shorter is a non-resource URL (discovery). The HTTP method gives the
    verb; a GET without a name is ``list``, or ``watch`` with ``watch=true``; a DELETE
    without a name is ``deletecollection``; a field selector on ``metadata.name`` names the
    object of a list or watch.
    """
    verb = method.lower()
    parts = [p for p in path.split("/") if p]
    if len(parts) < 3 or parts[0] not in API_PREFIXES:
        return Attributes(None, path, verb)
    prefix, rest = parts[0], parts[1:]
    group = ""
    if prefix == "apis":
        if len(rest) < 3:
            return Attributes(None, path, verb)
        group, rest = rest[0], rest[1:]
    rest = rest[1:]  # the version
    by_method = True
    if rest[0] in SPECIAL_VERBS and len(rest) >= 2:
        verb, rest, by_method = rest[0], rest[1:], False
    if by_method:
        verb = {
            "post": "create",
            "get": "get",
            "head": "get",
            "put": "update",
            "patch": "patch",
            "delete": "delete",
        }.get(verb, "")
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    if len(rest) > 2 and verb != "proxy":
        resource = f"{resource}/{rest[2]}"
    if name is None and verb == "get":
        verb = "watch" if query.get("watch", "").lower() in ("true", "1") else "list"
        selector = query.get("fieldSelector", "")
        for term in selector.split(","):
            key, _, value = term.partition("=")
            if key.strip() == "metadata.name" and value.strip() and not value.startswith("="):
                name = value.strip()
    if name is None and verb == "delete":
        verb = "deletecollection"
    return Attributes(group, resource, verb, namespace, name)


def load_rules(path: Path) -> list[dict[str, Any]]:
    role = yaml.safe_load(path.read_text())
    return list(role["rules"])


def _rule_allows(rule: Mapping[str, Any], attrs_: Attributes) -> bool:
    verbs = rule.get("verbs") or []
    if attrs_.verb not in verbs and "*" not in verbs:
        return False
    if not attrs_.is_resource:
        urls = rule.get("nonResourceURLs") or []
        return any(
            u == "*"
            or u == attrs_.resource
            or (u.endswith("*") and attrs_.resource.startswith(u[:-1]))
            for u in urls
        )
    groups = rule.get("apiGroups") or []
    if attrs_.group not in groups and "*" not in groups:
        return False
    resources = rule.get("resources") or []
    main, _, sub = attrs_.resource.partition("/")
    if not (
        attrs_.resource in resources
        or "*" in resources
        or (sub and f"*/{sub}" in resources)
        or (not sub and f"{main}/*" in resources)
    ):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs_.name in names


def allowed(
    rules: Iterable[Mapping[str, Any]], attrs_: Attributes, role_namespace: str | None
) -> bool:
    """Whether a ClusterRole (``role_namespace`` None, bound cluster-wide) or a Role bound in
    ``role_namespace`` allows the request. Discovery URLs are allowed to everyone."""
    if not attrs_.is_resource:
        return attrs_.verb == "get" and attrs_.resource.startswith(DISCOVERY_PREFIXES)
    if role_namespace is not None and attrs_.namespace != role_namespace:
        return False  # a Role grants nothing outside its namespace, nor at cluster scope
    return any(_rule_allows(rule, attrs_) for rule in rules)


def granted(rules: Iterable[Mapping[str, Any]]) -> set[tuple[str, str, str]]:
    """Every (apiGroup, resource, verb) a role's rules spell out (no wildcards expected)."""
    out: set[tuple[str, str, str]] = set()
    for rule in rules:
        assert not rule.get("resourceNames"), "resourceNames: not used by this project"
        for triple in itertools.product(rule["apiGroups"], rule["resources"], rule["verbs"]):
            assert "*" not in triple, f"a wildcard in the operator's role: {rule}"
            out.add(triple)
    return out


# --------------------------------------------------------------------------------------
# the API server with an authorizer


@dataclass
class Policy:
    token: str
    rules: list[dict[str, Any]]
    role_namespace: str | None  # None: a ClusterRole with a ClusterRoleBinding


@dataclass
class Decision:
    attributes: Attributes
    allowed: bool
    user_agent: str


@attrs.define(kw_only=True)
class AuthorizingApiServer(ApiServer):
    """The local API server plus RBAC for one identity: requests bearing ``policy.token``
    are authorized against ``policy.rules`` and recorded; all others (the test's own) pass."""

    policy: Policy | None = None
    decisions: list[Decision] = attrs.field(factory=list)

    async def _handle(self, request: Any) -> Any:
        policy = self.policy
        auth = str((request.headers or {}).get("Authorization", ""))
        if policy is None or auth != f"Bearer {policy.token}":
            return await super()._handle(request)
        method = str(request.method.value).upper()
        query = {k: str(v) for k, v in (request.params or {}).items()}
        attributes = request_attributes(method, request.url.path, query)
        agent = str((request.headers or {}).get("User-Agent", ""))
        checks = [attributes]
        content_type = str((request.headers or {}).get("Content-Type", ""))
        creates = attributes.verb == "patch" and content_type.startswith(APPLY_PATCH)
        if creates and not self._exists(attributes):
            # An apply that creates is authorized for create as well (the patch handler).
            checks.append(dataclasses.replace(attributes, verb="create"))
        for check in checks:
            ok = allowed(policy.rules, check, policy.role_namespace)
            self.decisions.append(Decision(check, ok, agent))
            if not ok:
                return self._error(forbidden(check))
        return await super()._handle(request)

    def _exists(self, attributes: Attributes) -> bool:
        if attributes.name is None:
            return False
        plural = attributes.resource.split("/")[0]
        key = (attributes.group or "", plural)
        return self.store.get(key, (attributes.namespace, attributes.name)) is not None


def forbidden(a: Attributes) -> ApiError:
    """403 worded like the API server's RBAC denial."""
    qualified = f"{a.resource}.{a.group}" if a.group else a.resource
    name = f' "{a.name}"' if a.name else ""
    scope = f' in the namespace "{a.namespace}"' if a.namespace else " at the cluster scope"
    return ApiError(
        403,
        "Forbidden",
        f'{qualified}{name} is forbidden: User "{OPERATOR_USER}" cannot {a.verb} resource '
        f'"{a.resource}" in API group "{a.group}"{scope}',
        {"name": a.name or "", "group": a.group or "", "kind": a.resource.split("/")[0]},
    )


# --------------------------------------------------------------------------------------
# request attributes: the mapping itself


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/pods", {}, Attributes("", "pods", "list")),
        ("GET", "/api/v1/pods", {"watch": "true"}, Attributes("", "pods", "watch")),
        (
            "GET",
            "/api/v1/namespaces/ns/pods",
            {"watch": "1"},
            Attributes("", "pods", "watch", "ns"),
        ),
        ("GET", "/api/v1/namespaces/ns/pods/p", {}, Attributes("", "pods", "get", "ns", "p")),
        ("GET", "/api/v1/namespaces", {}, Attributes("", "namespaces", "list")),
        ("GET", "/api/v1/namespaces/ns", {}, Attributes("", "namespaces", "get", "ns", "ns")),
        (
            "PUT",
            "/api/v1/namespaces/ns/finalize",
            {},
            Attributes("", "namespaces/finalize", "update", "ns", "ns"),
        ),
        (
            "GET",
            "/apis/llmservice.dev/v1alpha1/namespaces/ns/llmservices",
            {"fieldSelector": "metadata.name=chat"},
            Attributes("llmservice.dev", "llmservices", "list", "ns", "chat"),
        ),
        (
            "PATCH",
            "/apis/llmservice.dev/v1alpha1/namespaces/ns/llmservices/chat/status",
            {},
            Attributes("llmservice.dev", "llmservices/status", "patch", "ns", "chat"),
        ),
        (
            "PUT",
            "/apis/apps/v1/namespaces/ns/deployments/d/scale",
            {},
            Attributes("apps", "deployments/scale", "update", "ns", "d"),
        ),
        ("POST", "/api/v1/namespaces/ns/events", {}, Attributes("", "events", "create", "ns")),
        (
            "DELETE",
            "/apis/autoscaling/v2/namespaces/ns/horizontalpodautoscalers/h",
            {},
            Attributes("autoscaling", "horizontalpodautoscalers", "delete", "ns", "h"),
        ),
        (
            "DELETE",
            "/api/v1/namespaces/ns/pods",
            {},
            Attributes("", "pods", "deletecollection", "ns"),
        ),
        ("GET", "/api/v1/watch/namespaces/ns/pods", {}, Attributes("", "pods", "watch", "ns")),
        (
            "GET",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            {"watch": "true"},
            Attributes("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
        ),
        ("GET", "/apis", {}, Attributes(None, "/apis", "get")),
        ("GET", "/apis/apps/v1", {}, Attributes(None, "/apis/apps/v1", "get")),
        ("GET", "/api/v1", {}, Attributes(None, "/api/v1", "get")),
        ("GET", "/version", {}, Attributes(None, "/version", "get")),
    ],
)
def test_request_attributes_follow_the_api_server(
    method: str, path: str, query: dict[str, str], expected: Attributes
) -> None:
    assert request_attributes(method, path, query) == expected


def test_rules_match_group_resource_verb_subresource_and_scope() -> None:
    rules = [
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["patch"]},
    ]
    dep = Attributes("apps", "deployments", "patch", "ns", "d")
    assert allowed(rules, dep, None)
    assert allowed(rules, dep, "ns")
    assert not allowed(rules, dep, "other")  # a Role bound elsewhere
    assert not allowed(rules, dataclasses.replace(dep, verb="create"), None)
    assert not allowed(rules, Attributes("", "deployments", "get", "ns", "d"), None)
    assert not allowed(rules, Attributes("apps", "deployments/scale", "patch", "ns"), None)
    assert allowed(rules, Attributes("", "pods/status", "patch", "ns", "p"), None)
    assert not allowed(rules, Attributes("", "pods", "patch", "ns", "p"), None)
    assert not allowed(rules, Attributes("apps", "deployments", "get"), "ns")  # cluster scope
    assert allowed(rules, Attributes(None, "/apis/apps/v1", "get"), "ns")
    assert not allowed(rules, Attributes(None, "/metrics", "get"), None)


def test_the_namespaced_role_is_the_cluster_role_without_cluster_scoped_rules() -> None:
    cluster_scoped = {("apiextensions.k8s.io", "customresourcedefinitions"), ("", "namespaces")}
    expected = {t for t in granted(load_rules(CLUSTER_ROLE)) if (t[0], t[1]) not in cluster_scoped}
    assert granted(load_rules(NAMESPACED_ROLE)) == expected


# --------------------------------------------------------------------------------------
# the operator under its role


@pytest.fixture
def authorizing_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[thread_mod.ServerThread]:
    # ServerThread builds its ApiServer when it starts; give it the authorizing one.
    monkeypatch.setattr(thread_mod, "ApiServer", AuthorizingApiServer)
    with thread_mod.ServerThread(kubeconfig_path=tmp_path / "kubeconfig") as server:
        assert isinstance(server.api, AuthorizingApiServer)
        yield server


def operator_kubeconfig(server: thread_mod.ServerThread, path: Path) -> Path:
    """A kubeconfig like the test's, but with the operator's own token."""
    config = yaml.safe_load(kubeconfig_mod.render(server.url))
    config["users"][0]["user"]["token"] = OPERATOR_TOKEN
    path.write_text(yaml.safe_dump(config))
    return path


def set_policy(server: thread_mod.ServerThread, policy: Policy) -> None:
    def apply(api: Any) -> None:
        api.policy = policy

    server.call(apply)


def decisions(server: thread_mod.ServerThread) -> list[Decision]:
    return list(server.call(lambda api: list(api.decisions)))


def lifecycle(cluster: Cluster) -> None:
    """Every path the operator has, each step waited for through the status it reports."""
    ns = cluster.ns
    # create; pods become ready (pods are read, status patched, events posted)
    cluster.create("chat")
    wait_for(lambda: all(cluster.children("chat").values()), "the three children of chat", WAIT)
    cluster.wait_condition("chat", "Ready", "False", timeout=WAIT)
    cluster.run_ready("chat", pods=2)
    cluster.wait_condition("chat", "Ready", "True", "AllReplicasReady", timeout=WAIT)

    # a spec update re-applies the existing children (patch only)
    cluster.patch_spec("chat", {"model": {"name": "qwen2.5:0.5b"}})

    def rolled() -> bool:
        dep = cluster.deployment("chat") or {}
        env = dep.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [{}])
        return "qwen2.5:0.5b" in str(env)

    wait_for(rolled, "the Deployment to carry the new model", WAIT)
    cluster.mark_deployment("chat", ready=2)
    wait_for(
        lambda: cluster.status("chat").get("observedGeneration") == 2,
        "status of generation 2",
        WAIT,
    )

    # autoscaling off deletes the HPA; on again creates it (apply that creates)
    cluster.patch_spec("chat", {"autoscaling": {"enabled": False}, "replicas": 2})
    wait_for(lambda: cluster.hpa("chat") is None, "the HPA to be deleted", WAIT)
    # a single pod has no disruption budget: deleted; with autoscaling back, created again
    cluster.patch_spec("chat", {"replicas": 1})
    wait_for(lambda: cluster.pdb("chat") is None, "the PodDisruptionBudget to be deleted", WAIT)
    cluster.patch_spec("chat", {"autoscaling": {"enabled": True}})
    wait_for(lambda: cluster.hpa("chat") is not None, "the HPA to be created again", WAIT)
    wait_for(lambda: cluster.pdb("chat") is not None, "the budget to be created again", WAIT)

    # what shows the service to the cluster: each child created, switched, deleted when off
    exposed = Children(cluster)
    cluster.patch_spec(
        "chat",
        {
            "networkPolicy": {"enabled": True, "metricsFromNamespaces": ["monitoring"]},
            "route": {"ingress": {"host": "chat.example.com"}},
            "monitoring": {"enabled": True},
        },
    )
    for kind in ("NetworkPolicy", "Ingress", "PodMonitor"):
        wait_for(lambda k=kind: exposed.get(k), f"the {kind}", WAIT)
    cluster.patch_spec(
        "chat", {"route": {"ingress": None, "httpRoute": {"parentRefs": [{"name": "gw"}]}}}
    )
    wait_for(lambda: exposed.get("HTTPRoute"), "the HTTPRoute", WAIT)
    wait_for(lambda: exposed.get("Ingress") is None, "the Ingress to be deleted", WAIT)
    cluster.patch_spec("chat", {"networkPolicy": None, "route": None, "monitoring": None})
    for kind in ("NetworkPolicy", "HTTPRoute", "PodMonitor"):
        wait_for(lambda k=kind: exposed.get(k) is None, f"the {kind} to be deleted", WAIT)

    # a deleted child is restored
    cluster.apps.delete_namespaced_deployment("chat", ns)
    wait_for(lambda: cluster.deployment("chat") is not None, "the Deployment to be restored", WAIT)

    # persistent model storage: the operator applies a PersistentVolumeClaim
    cluster.create(
        "cached",
        {
            "model": {"storage": {"type": "PersistentVolumeClaim", "size": "1Gi"}},
            "autoscaling": {"enabled": False},
            "replicas": 1,
        },
    )
    wait_for(
        lambda: cluster.core.list_namespaced_persistent_volume_claim(ns).items,
        "the model PersistentVolumeClaim",
        WAIT,
    )

    # a name conflict: a Service of someone else's already has the name
    cluster.core.create_namespaced_service(
        ns,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "taken"},
            "spec": {"ports": [{"port": 80}]},
        },
    )
    cluster.create("taken")
    cluster.wait_condition("taken", "Ready", "False", "NameConflict", timeout=WAIT)

    # delete: the children go by garbage collection
    for name in ("chat", "cached", "taken"):
        cluster.delete_llms(name)
    wait_for(lambda: not any(cluster.children("chat").values()), "chat's children to go", WAIT)


def run_under_role(
    server: thread_mod.ServerThread, tmp_path: Path, policy: Policy, watch: list[str], ns: str
) -> list[Decision]:
    api_client = api_client_for(server)
    try:
        install_crd(api_client)
        install_stand_in(api_client, "PodMonitor")  # the emulator serves HTTPRoutes already
        cluster = Cluster(api_client, ns)
        cluster.core.create_namespace({"metadata": {"name": ns}})
        set_policy(server, policy)
        config = operator_kubeconfig(server, tmp_path / "operator-kubeconfig")
        with running_operator(config, watch, tmp_path / "operator.log") as op:
            try:
                lifecycle(cluster)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\noperator log:\n{op.logs()}") from None
    finally:
        api_client.close()
    seen = decisions(server)
    assert seen, "no request carried the operator's token: the identity check is broken"
    clients = {"kopf", USER_AGENT.split("/")[0]}
    # Both of the operator's clients (kopf's and the reconciler's) ran under the identity...
    assert {d.user_agent.split("/")[0] for d in seen} == clients
    # ... and none of their requests went without it (and so past the authorizer).
    assert untokened_operator_requests(server, clients) == []
    return seen


def untokened_operator_requests(server: thread_mod.ServerThread, clients: set[str]) -> list[str]:
    """Requests in the server's log from the operator's clients without the operator token."""

    def collect(api: Any) -> list[str]:
        out = []
        for request in list(api):
            headers = getattr(request, "headers", None) or {}
            agent = str(headers.get("User-Agent", "")).split("/")[0]
            if agent in clients and headers.get("Authorization") != f"Bearer {OPERATOR_TOKEN}":
                out.append(f"{request.method} {request.url.path} ({agent})")
        return out

    return list(server.call(collect))


def report(items: Iterable[Any]) -> str:
    return "\n  ".join(sorted({str(i) for i in items}))


@pytest.mark.slow
def test_cluster_role_grants_exactly_what_the_operator_uses(
    authorizing_server: thread_mod.ServerThread, tmp_path: Path
) -> None:
    rules = load_rules(CLUSTER_ROLE)
    policy = Policy(OPERATOR_TOKEN, rules, role_namespace=None)
    seen = run_under_role(authorizing_server, tmp_path, policy, [], "rbac-cluster")

    denied = [d.attributes for d in seen if not d.allowed]
    assert not denied, "the ClusterRole lacks what the operator did:\n  " + report(denied)
    used = {d.attributes.grant() for d in seen if d.attributes.is_resource}
    unused = granted(rules) - used
    assert not unused, "the ClusterRole grants what the operator never used:\n  " + report(unused)


@pytest.mark.slow
def test_namespaced_role_grants_exactly_what_the_operator_uses_in_its_namespace(
    authorizing_server: thread_mod.ServerThread, tmp_path: Path
) -> None:
    rules = load_rules(NAMESPACED_ROLE)
    ns = "rbac-namespaced"
    policy = Policy(OPERATOR_TOKEN, rules, role_namespace=ns)
    # The lifecycle reaching Ready and NameConflict under the Role is the proof it suffices.
    seen = run_under_role(authorizing_server, tmp_path, policy, [ns], ns)

    denied = [d.attributes for d in seen if not d.allowed]
    assert not denied, "the Role lacks what the operator did:\n  " + report(denied)
    used = {d.attributes.grant() for d in seen if d.allowed and d.attributes.is_resource}
    unused = granted(rules) - used
    assert not unused, "the Role grants what the operator never used:\n  " + report(unused)
