"""The Helm chart (charts/llmservice-operator) against the kustomize install (deploy/).

Both are rendered by the real tools, Helm v4 built from its Go module
(``llmservice_testkit.helm``) and ``kubectl kustomize``, and compared object by object for
the same settings, so the two installs cannot drift apart. What only Helm adds is its own
labels (release, chart version, manager); nothing else may differ. The chart's values are
checked against the operator's own settings parser, and its schema must refuse bad values
naming the field. Without Go (no Helm) or kubectl the tests skip, saying why.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import support
import yaml
from llmservice_operator.runtime import settings as operator_settings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "llmservice-operator"
RELEASE = "llmservice-operator"
NAMESPACE = "llmservice-system"
KUBECTL = shutil.which("kubectl")
# The labels only a Helm release carries; everything else must equal deploy/'s.
HELM_LABELS = frozenset(
    {
        "app.kubernetes.io/instance",
        "app.kubernetes.io/managed-by",
        "app.kubernetes.io/version",
        "helm.sh/chart",
    }
)
# Each chart setting and the operator's variable (and Settings field) it sets.
SETTINGS = {
    "logLevel": ("LOG_LEVEL", "log_level"),
    "logFormat": ("LOG_FORMAT", "log_format"),
    "watchServerTimeout": ("WATCH_SERVER_TIMEOUT", "watch_server_timeout"),
    "watchClientTimeout": ("WATCH_CLIENT_TIMEOUT", "watch_client_timeout"),
    "watchConnectTimeout": ("WATCH_CONNECT_TIMEOUT", "watch_connect_timeout"),
    "watchListChunk": ("WATCH_LIST_CHUNK", "watch_list_chunk"),
    "requestTimeout": ("REQUEST_TIMEOUT", "request_timeout"),
    "healthPort": ("HEALTH_PORT", "health_port"),
    "metricsPort": ("METRICS_PORT", "metrics_port"),
    "apiWorkers": ("API_WORKERS", "api_workers"),
    "statusDebounce": ("STATUS_DEBOUNCE", "status_debounce"),
    "statusInterval": ("STATUS_INTERVAL", "status_interval"),
    "firstStatusDelay": ("FIRST_STATUS_DELAY", "first_status_delay"),
    "capacityGrace": ("CAPACITY_GRACE", "capacity_grace"),
    "restartWindow": ("RESTART_WINDOW", "restart_window"),
    "modelProgressInterval": ("MODEL_PROGRESS_INTERVAL", "model_progress_interval"),
    "discoveryRecheck": ("DISCOVERY_RECHECK", "discovery_recheck"),
}
# Settings the chart does not offer, and why: the probes need the health endpoint on every
# address, and peering needs kopf's peering resources, which neither install grants.
NOT_OFFERED = {"health_host", "peering_name", "namespaces"}


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    from llmservice_testkit import helm as helm_tool

    try:
        helm_tool.ensure()
    except helm_tool.BuildUnavailable as exc:
        pytest.skip(f"no Helm here: {exc}")
    return helm_tool.run(*args, check=check)


def template(*args: str, source: Path = CHART) -> list[dict[str, Any]]:
    out = helm(
        "template", RELEASE, str(source), "--namespace", NAMESPACE, "--include-crds", *args
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def kustomize(folder: Path) -> list[dict[str, Any]]:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed (kubectl kustomize renders deploy/)")
    done = subprocess.run(
        [KUBECTL, "kustomize", str(folder)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def without_helm_labels(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with Helm's own labels taken out of its metadata and its pod template."""
    doc = json.loads(json.dumps(doc))
    holders = [doc.get("metadata", {})]
    holders.append(doc.get("spec", {}).get("template", {}).get("metadata", {}))
    for metadata in holders:
        labels = metadata.get("labels")
        if labels is not None:
            for key in HELM_LABELS & labels.keys():
                del labels[key]
    return doc


def by_identity(docs: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for doc in docs:
        meta = doc["metadata"]
        key = (doc["kind"], meta.get("namespace", ""), meta["name"])
        assert key not in found, f"{key} rendered twice"
        found[key] = without_helm_labels(doc)
    return found


def assert_same_objects(chart: list[dict[str, Any]], kustomized: list[dict[str, Any]]) -> None:
    ours, theirs = by_identity(chart), by_identity(kustomized)
    assert sorted(ours) == sorted(theirs), "the two installs make different objects"
    for key in theirs:
        assert ours[key] == theirs[key], f"{key} differs between the chart and deploy/"


def deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = [doc for doc in docs if doc["kind"] == "Deployment"]
    return found


def env_of(docs: list[dict[str, Any]]) -> dict[str, str]:
    container = deployment(docs)["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item["value"] for item in container["env"]}


# -- the chart and deploy/ make the same objects --------------------------------------


def test_the_charts_crd_is_the_generated_one() -> None:
    """`make crd` writes both; a hand edit of either (or a forgotten copy) fails here."""
    generated = ROOT / "crds" / "llmservices.llmservice.dev.yaml"
    assert (CHART / "crds" / generated.name).read_bytes() == generated.read_bytes(), (
        "charts/llmservice-operator/crds/ differs from crds/: run `make crd`"
    )


def test_cluster_wide_install_matches_deploy() -> None:
    chart = template("--set", "namespace.create=true")
    assert_same_objects(chart, kustomize(ROOT / "deploy"))
    kinds = sorted(doc["kind"] for doc in chart)
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Deployment",
        "Namespace",
        "ServiceAccount",
    ]


def test_single_namespace_install_matches_deploy_namespaced() -> None:
    chart = template("--set", "namespace.create=true", "--set", "rbac.scope=namespace")
    assert_same_objects(chart, kustomize(ROOT / "deploy" / "namespaced"))
    assert not [doc for doc in chart if doc["kind"].startswith("Cluster")]
    assert env_of(chart)["LLMSERVICE_NAMESPACES"] == NAMESPACE


def test_the_same_settings_make_the_same_objects(tmp_path: Path) -> None:
    """Settings changed in a kustomize overlay, as the README shows, and the same ones as
    chart values: still the same objects."""
    overlay = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(ROOT / "deploy", tmp_path)],  # kustomize: relative
        "images": [
            {
                "name": "ghcr.io/llmservice-operator/llmservice-operator",
                "newName": "registry.example.com/llmservice-operator",
                "newTag": "0.2.0",
            }
        ],
        "patches": [
            {
                "target": {"kind": "Deployment", "name": RELEASE},
                "patch": yaml.safe_dump(
                    [
                        {"op": "replace", "path": "/spec/template/spec/containers/0/env/0/value",
                         "value": "team-a,team-b"},
                        {"op": "replace", "path": "/spec/template/spec/containers/0/env/2/value",
                         "value": "DEBUG"},
                        {"op": "add", "path": "/spec/template/spec/containers/0/env/-",
                         "value": {"name": "LLMSERVICE_API_WORKERS", "value": "4"}},
                        {"op": "add", "path": "/spec/template/spec/containers/0/env/-",
                         "value": {"name": "LLMSERVICE_STATUS_DEBOUNCE", "value": "0.5"}},
                    ]
                ),
            }
        ],
    }  # fmt: skip
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    chart = template(
        "--set", "namespace.create=true",
        "--set", "image.repository=registry.example.com/llmservice-operator",
        "--set", "image.tag=0.2.0",
        "--set", "watchNamespaces={team-a,team-b}",
        "--set", "settings.logLevel=DEBUG",
        "--set", "settings.apiWorkers=4",
        "--set", "settings.statusDebounce=0.5",
    )  # fmt: skip
    assert_same_objects(chart, kustomize(tmp_path))


# -- the values reach the operator as it reads them -----------------------------------


def test_every_operator_setting_is_a_chart_value() -> None:
    """A setting added to the operator and forgotten here fails: the chart offers every
    one but those NOT_OFFERED says why."""
    fields = {f.name for f in dataclasses.fields(operator_settings.Settings)}
    offered = {field for _, field in SETTINGS.values()}
    assert fields - NOT_OFFERED == offered
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values["settings"]) == set(SETTINGS)
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert set(schema["properties"]["settings"]["properties"]) == set(SETTINGS)


def test_defaults_set_only_what_deploy_sets() -> None:
    """null keeps the operator's default: no variable but deploy/'s three."""
    env = env_of(template())
    assert env == {
        "LLMSERVICE_NAMESPACES": "",
        "LLMSERVICE_LOG_FORMAT": "json",
        "LLMSERVICE_LOG_LEVEL": "INFO",
    }
    parsed = operator_settings.load(env)
    assert parsed.clusterwide
    assert parsed.log_format == "json"


def test_every_value_reaches_the_operators_settings(tmp_path: Path) -> None:
    """Each value set in the chart is what the operator's own parser reads from the
    rendered environment: names, units and number spelling included."""
    chosen: dict[str, Any] = {
        "logLevel": "WARNING",
        "logFormat": "text",
        "watchServerTimeout": 300,
        "watchClientTimeout": 330.5,
        "watchConnectTimeout": 15,
        "watchListChunk": 500,
        "healthPort": 8181,
        "metricsPort": 9191,
        "apiWorkers": 16,
        "statusDebounce": 0.25,
        "statusInterval": 2,
        "firstStatusDelay": 0,
        "capacityGrace": 1200,
        "restartWindow": 90,
        "modelProgressInterval": 0.5,
        "requestTimeout": 12.5,
        "discoveryRecheck": 45,
    }
    assert set(chosen) == set(SETTINGS)
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"settings": chosen, "watchNamespaces": ["a", "b"]}))
    docs = template("--values", str(values))
    env = env_of(docs)
    parsed = operator_settings.load(env)
    for key, (variable, field) in SETTINGS.items():
        assert f"LLMSERVICE_{variable}" in env, key
        got = getattr(parsed, field)
        if key == "logLevel":
            assert got == 30, env["LLMSERVICE_LOG_LEVEL"]
        else:
            assert got == chosen[key], (key, env[f"LLMSERVICE_{variable}"])
    assert parsed.namespaces == ("a", "b")
    ports = deployment(docs)["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert ports == [
        {"name": "health", "containerPort": 8181},
        {"name": "metrics", "containerPort": 9191},
    ]


def test_metrics_off_removes_its_port() -> None:
    docs = template("--set", "settings.metricsPort=0")
    assert env_of(docs)["LLMSERVICE_METRICS_PORT"] == "0"
    ports = deployment(docs)["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert [port["name"] for port in ports] == ["health"]


def test_single_namespace_scope_grants_each_watched_namespace() -> None:
    docs = template("--set", "rbac.scope=namespace", "--set", "watchNamespaces={team-a,team-b}")
    roles = sorted(
        (doc["kind"], doc["metadata"]["namespace"]) for doc in docs if "Role" in doc["kind"]
    )
    assert roles == [
        ("Role", "team-a"),
        ("Role", "team-b"),
        ("RoleBinding", "team-a"),
        ("RoleBinding", "team-b"),
    ]
    for doc in docs:
        if doc["kind"] == "RoleBinding":
            assert doc["subjects"] == [
                {"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}
            ]
    assert env_of(docs)["LLMSERVICE_NAMESPACES"] == "team-a,team-b"


def test_objects_are_named_after_the_release() -> None:
    out = helm("template", "team", str(CHART), "--namespace", "ops").stdout
    docs = [doc for doc in yaml.safe_load_all(out) if doc]
    assert {doc["metadata"]["name"] for doc in docs} == {"team-llmservice-operator"}
    for doc in docs:
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == "team"
    binding = next(doc for doc in docs if doc["kind"] == "ClusterRoleBinding")
    assert binding["subjects"][0]["namespace"] == "ops"


# -- bad values are refused, naming the field -----------------------------------------


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--set", "rbac.scope=cluster-wide"], ["/rbac/scope", "cluster", "namespace"]),
        (["--set", "settings.logLevel=LOUD"], ["/settings/logLevel", "INFO"]),
        (["--set", "settings.apiWorkers=0"], ["/settings/apiWorkers", "minimum"]),
        (["--set", "settings.watchListChunk=5"], ["/settings/watchListChunk"]),
        (["--set", "settings.watchServerTimeout=1.5"], ["/settings/watchServerTimeout"]),
        (["--set", "settings.metricsPort=70000"], ["/settings/metricsPort"]),
        (["--set", "watchNamespaces={Team_A}"], ["/watchNamespaces/0"]),
        (["--set", "settings.logLevl=DEBUG"], ["/settings", "logLevl"]),
        (["--set", "replicas=2"], ["replicas"]),
        (["--set", "image.pullPolicy=Sometimes"], ["/image/pullPolicy"]),
    ],
)
def test_bad_values_are_refused_naming_the_field(args: list[str], names: list[str]) -> None:
    done = helm("template", RELEASE, str(CHART), *args, check=False)
    assert done.returncode != 0, f"accepted {args}"
    for name in names:
        assert name in done.stderr, (name, done.stderr)


@pytest.mark.parametrize(
    "args",
    [
        ["--set", "settings.watchClientTimeout=600"],
        ["--set", "settings.watchServerTimeout=900", "--set", "settings.watchClientTimeout=660"],
    ],
)
def test_client_watch_timeout_must_be_longer_than_the_servers(args: list[str]) -> None:
    """The one rule across two values, as the operator states it."""
    done = helm("template", RELEASE, str(CHART), *args, check=False)
    assert done.returncode != 0
    assert "settings.watchClientTimeout" in done.stderr
    assert "must be longer than settings.watchServerTimeout" in done.stderr


# -- lint and package ------------------------------------------------------------------


def test_lint_is_clean_in_both_scopes() -> None:
    for scope in ("cluster", "namespace"):
        done = helm("lint", "--strict", str(CHART), "--set", f"rbac.scope={scope}", check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "[WARNING]" not in done.stdout, done.stdout
        assert "[ERROR]" not in done.stdout, done.stdout


def test_package_makes_an_archive_that_renders_the_same(tmp_path: Path) -> None:
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
    helm("package", str(CHART), "--destination", str(tmp_path))
    archive = tmp_path / f"llmservice-operator-{version}.tgz"
    assert archive.is_file()
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    for expected in (
        "Chart.yaml",
        "values.yaml",
        "values.schema.json",
        "crds/llmservices.llmservice.dev.yaml",
        "templates/deployment.yaml",
    ):
        assert f"llmservice-operator/{expected}" in names
    assert template(source=archive) == template()
    done = helm("template", RELEASE, str(archive), "--set", "rbac.scope=x", check=False)
    assert done.returncode != 0, "the schema is packaged"
    assert "/rbac/scope" in done.stderr


FULL_VALUES: dict[str, Any] = {
    "image": {"repository": "registry.example.com:5000/ops/operator", "tag": "0.2.0-rc.1"},
    "imagePullSecrets": [{"name": "registry"}],
    "serviceAccount": {"annotations": {"example.com/role": "operator"}},
    "podAnnotations": {"example.com/scrape": "true"},
    "podLabels": {"team": "ml"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}
    ],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["ops"]}]}
                ]
            }
        }
    },
    "priorityClassName": "system-cluster-critical",
    "resources": {"requests": {"cpu": "50m", "memory": "96Mi"}, "limits": {"memory": "1Gi"}},
    "namespace": {"create": True},
}


@pytest.mark.parametrize("scope", ["cluster", "namespace"])
@pytest.mark.parametrize("version", support.KUBERNETES_VERSIONS)
def test_every_value_set_renders_valid_objects(tmp_path: Path, scope: str, version: str) -> None:
    """What the comparison with deploy/ cannot cover (values deploy/ has no counterpart
    for) is checked against the upstream schemas of the oldest and newest supported
    Kubernetes, strictly: an unknown or misplaced field fails."""
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({**FULL_VALUES, "rbac": {"scope": scope}}))
    docs = template("--values", str(values))
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)
    pod = deployment(docs)["spec"]["template"]
    assert pod["metadata"]["labels"]["team"] == "ml"
    assert pod["metadata"]["annotations"] == FULL_VALUES["podAnnotations"]
    for key in ("nodeSelector", "tolerations", "affinity", "priorityClassName"):
        assert pod["spec"][key] == FULL_VALUES[key], key
    assert pod["spec"]["imagePullSecrets"] == FULL_VALUES["imagePullSecrets"]
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "registry.example.com:5000/ops/operator:0.2.0-rc.1"
    assert container["resources"] == FULL_VALUES["resources"]
    (account,) = [doc for doc in docs if doc["kind"] == "ServiceAccount"]
    assert account["metadata"]["annotations"] == FULL_VALUES["serviceAccount"]["annotations"]
