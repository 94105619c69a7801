"""What a user does with kubectl, end to end, in every environment (see conftest.py):
apply, wait, get, scale, delete. In CI the cluster is the local API server with the
operator running as a process and the Deployment controller played by the test session."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from e2e_helpers import (
    E2E,
    KIND_OVERLAY,
    KUBECTL,
    OPERATOR_IMAGE,
    ROOT,
    apply_chat,
    for_environment,
    jsonpath,
    wait_for,
    wait_ready,
)

COLUMNS = ["NAME", "MODEL", "READY", "DESIRED", "MIN", "MAX", "PHASE", "AGE"]


def instance(name: str) -> str:
    return f"app.kubernetes.io/instance={name}"


def test_every_example_is_accepted_by_the_api_server(e2e: E2E) -> None:
    """Server-side dry run: the CRD's schema and CEL rules as the API server applies them."""
    examples = sorted((ROOT / "examples").glob("*.yaml"))
    assert examples
    before = e2e.kubectl("get", "llms", "-o", "name").stdout.split()
    for example in examples:
        result = e2e.kubectl("apply", "--dry-run=server", "-f", str(example), check=False)
        assert result.returncode == 0, f"{example.name}: {result.stderr}"
        assert "(server dry run)" in result.stdout
    # A dry run stores nothing.
    assert e2e.kubectl("get", "llms", "-o", "name").stdout.split() == before


def test_the_seeds_example_becomes_ready_with_its_autoscaler(e2e: E2E) -> None:
    """examples/tinyllama.yaml as a user applies it (the backend image swapped for the
    environment's own where one is set), then its three children."""
    doc = for_environment(e2e, yaml.safe_load((ROOT / "examples" / "tinyllama.yaml").read_text()))
    e2e.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(doc))
    wait_ready(e2e, "tinyllama")

    hpa = e2e.kubectl("get", "hpa", "tinyllama", "-o", "json").stdout
    spec = yaml.safe_load(hpa)["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 6)
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
               for m in spec["metrics"]}  # fmt: skip
    assert targets == {"cpu": 70, "memory": 80}
    assert jsonpath(e2e, "service/tinyllama", ".spec.type") == "NodePort"
    # At rest at its minimum. The HPA's first status may still show the step from the
    # Deployment's default single pod to the minimum (ScalingUp) for a moment; without a
    # metrics server (the real control plane here) the autoscaler says it has no metrics.
    settled = ["Stable", "AtMinimum"]
    if e2e.mode != "local":
        settled.append("MetricsUnavailable")
    wait_for(
        lambda: jsonpath(e2e, "llms/tinyllama", ".status.autoscaling.state") in settled,
        f"the autoscaling state to settle at one of {settled}",
        timeout=e2e.step_timeout,
    )
    e2e.kubectl("delete", "llms/tinyllama", "--wait=false")


def test_an_invalid_llmservice_is_refused_with_the_field_named(e2e: E2E) -> None:
    doc = {
        "apiVersion": "llmservice.dev/v1alpha1",
        "kind": "LLMService",
        "metadata": {"name": "bounds"},
        "spec": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 3}},
    }
    result = e2e.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(doc), check=False)
    assert result.returncode != 0
    assert "minReplicas" in result.stderr, result.stderr


def test_apply_wait_and_get_llms_columns(e2e: E2E) -> None:
    apply_chat(e2e, "columns")
    wait_ready(e2e, "columns")

    table = e2e.kubectl("get", "llms").stdout.splitlines()
    assert table[0].split() == COLUMNS
    line = next(line for line in table[1:] if line.split()[0] == "columns")
    starts = [table[0].index(word) for word in COLUMNS]
    row = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    # MIN and MAX are empty while autoscaling is off (the spec's defaults do not apply).
    assert row[:7] == ["columns", "smollm2:135m", "2/2", "2", "", "", "Ready"]

    wide = e2e.kubectl("get", "llms", "columns", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-1] == "ENDPOINT"
    assert wide[1].split()[-1] == f"http://columns.{e2e.namespace}.svc:80"

    children = e2e.kubectl(
        "get", "deployments,services,hpa", "-l", instance("columns"), "-o", "name"
    ).stdout.split()
    # Autoscaling is off in this LLMService: no HorizontalPodAutoscaler.
    assert sorted(children) == ["deployment.apps/columns", "service/columns"]
    e2e.kubectl("delete", "llms/columns", "--wait=false")  # frees a real cluster's pods


def test_kubectl_scale_with_autoscaling_off_is_followed_by_the_deployment(e2e: E2E) -> None:
    apply_chat(e2e, "scaled")
    wait_ready(e2e, "scaled")

    e2e.kubectl("scale", "llms/scaled", "--replicas=3")

    assert jsonpath(e2e, "llms/scaled", ".spec.replicas") == "3"
    wait_for(
        lambda: jsonpath(e2e, "deployment/scaled", ".spec.replicas") == "3",
        "the Deployment to follow the scale to 3",
        e2e.step_timeout,
    )
    wait_for(
        lambda: jsonpath(e2e, "llms/scaled", ".status.ready") == "3/3",
        "llms/scaled READY 3/3",
        e2e.ready_timeout,
    )
    wait_ready(e2e, "scaled")
    assert jsonpath(e2e, "llms/scaled", ".status.desiredReplicas") == "3"
    # The scale subresource reads the same numbers.
    assert jsonpath(e2e, "llms/scaled", ".status.replicas") == "3"
    e2e.kubectl("delete", "llms/scaled", "--wait=false")


def test_delete_removes_the_children(e2e: E2E) -> None:
    apply_chat(e2e, "deleted")
    wait_for(
        lambda: (
            len(
                e2e.kubectl(
                    "get", "deployments,services", "-l", instance("deleted"), "-o", "name"
                ).stdout.split()
            )
            == 2
        ),
        "the Deployment and the Service",
        e2e.step_timeout,
    )

    if e2e.real_pods:
        # Delete a service that runs, as users do. A pod deleted in the instant it is
        # created can wait out its whole grace period (120 s) on the real node: seen
        # there, cause not pinned down (docs/notes.md).
        wait_ready(e2e, "deleted")
    e2e.kubectl("delete", "llms/deleted", f"--timeout={int(e2e.step_timeout)}s")

    wait_for(
        lambda: (
            e2e.kubectl(
                "get", "deployments,services,hpa,pods", "-l", instance("deleted"), "-o", "name"
            ).stdout.strip()
            == ""
        ),
        "the children to be garbage-collected",
        e2e.step_timeout,
    )
    gone = e2e.kubectl("get", "llms/deleted", check=False)
    assert gone.returncode != 0
    assert "NotFound" in gone.stderr


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_the_kind_overlay_installs_deploy_with_the_local_operator_image() -> None:
    """What ``make e2e-kind`` applies: deploy/ unchanged except for the image."""
    assert KUBECTL is not None
    rendered = subprocess.run(
        [KUBECTL, "kustomize", str(KIND_OVERLAY)], capture_output=True, text=True, check=True
    ).stdout
    base = subprocess.run(
        [KUBECTL, "kustomize", str(ROOT / "deploy")], capture_output=True, text=True, check=True
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    base_docs = [d for d in yaml.safe_load_all(base) if d]
    (operator,) = [d for d in docs if d["kind"] == "Deployment"]
    (container,) = operator["spec"]["template"]["spec"]["containers"]
    assert container["image"] == OPERATOR_IMAGE
    assert container["imagePullPolicy"] == "IfNotPresent"  # the image kind loaded is used
    container["image"] = next(d for d in base_docs if d["kind"] == "Deployment")["spec"][
        "template"
    ]["spec"]["containers"][0]["image"]
    assert docs == base_docs
