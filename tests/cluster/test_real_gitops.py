"""What Flux (kstatus) and Argo CD (our Lua health check) say about a real LLMService: the
object as kube-apiserver returns it, with the generation it keeps and the status the
running operator wrote, through a spec change made while the operator was down and a
pod that fails. The unit tests cover every situation of the README's table with computed
statuses; this one checks that the real objects read the same way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from llmservice_testkit import argocd, kstatus
from realcluster import Real, apply, llms, operator_in, service_doc, wait_for

pytestmark = pytest.mark.slow
FAULT = "testkit.llmservice.dev/fault"
PATCH = argocd.SCRIPT.parent / "argocd-cm-patch.yaml"


def fixed(name: str, **spec: Any) -> dict[str, Any]:
    return service_doc(name, replicas=1, autoscaling={"enabled": False}, **spec)


@pytest.fixture(scope="module")
def tools() -> None:
    try:
        kstatus.ensure()
        argocd.llmservice_health({})
    except (kstatus.BuildUnavailable, argocd.LuaUnavailable) as exc:
        pytest.skip(str(exc))


def verdicts(doc: dict[str, Any]) -> tuple[str, str]:
    """(kstatus, Argo CD) for one LLMService object."""
    (found,) = kstatus.compute([doc])
    return found.status, argocd.llmservice_health(doc)[0]


def reaches(real: Real, namespace: str, name: str, wanted: tuple[str, str]) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        doc = llms(real, namespace, name)
        return doc if verdicts(doc) == wanted else None

    return wait_for(check, f"llms/{name} to read {wanted} for kstatus and Argo CD")


def test_flux_and_argo_cd_read_a_real_llmservice(
    real: Real, namespace: str, tools: None, tmp_path: Path
) -> None:
    # Created while no operator runs: no status yet. kstatus calls that Current (the gap
    # the README describes); Argo CD's check waits.
    apply(real, namespace, fixed("gitops"))
    assert verdicts(llms(real, namespace, "gitops")) == ("Current", "Progressing")
    with operator_in(real, [namespace], tmp_path / "first.log"):
        done = reaches(real, namespace, "gitops", ("Current", "Healthy"))
        assert done["status"]["phase"] == "Ready"
    # The spec changes while the operator is down: the status is of the old generation.
    apply(real, namespace, fixed("gitops", pod={"annotations": {FAULT: "CrashLoopBackOff"}}))
    stale = llms(real, namespace, "gitops")
    assert stale["metadata"]["generation"] == 2
    assert stale["status"]["observedGeneration"] == 1
    assert verdicts(stale) == ("InProgress", "Progressing")
    with operator_in(real, [namespace], tmp_path / "second.log"):
        # The new pod crash-loops while the old one serves (maxUnavailable 0).
        serving = reaches(real, namespace, "gitops", ("Current", "Degraded"))
        assert serving["status"]["observedGeneration"] == 2
        assert serving["status"]["phase"] == "Degraded"
        # A service whose only pod fails from the start: nothing serves.
        apply(real, namespace, fixed("broken", pod={"annotations": {FAULT: "CrashLoopBackOff"}}))
        broken = reaches(real, namespace, "broken", ("Failed", "Degraded"))
        (verdict,) = kstatus.compute([broken])
        assert "crash-looping" in verdict.message
        assert "CrashLoopBackOff" in argocd.llmservice_health(broken)[1]


def test_the_argocd_cm_patch_applies_with_kubectl(real: Real, namespace: str) -> None:
    """The documented `kubectl patch` keeps argocd-cm's other keys and adds the check."""
    real.kubectl(
        "create", "configmap", "argocd-cm", "-n", namespace,
        "--from-literal=url=https://argocd.example.test",
    )  # fmt: skip
    real.kubectl(
        "patch", "configmap", "argocd-cm", "-n", namespace, "--type", "merge",
        "--patch-file", str(PATCH),
    )  # fmt: skip
    out = real.kubectl("get", "configmap", "argocd-cm", "-n", namespace, "-o", "json").stdout
    assert json.loads(out)["data"] == {
        "url": "https://argocd.example.test",
        argocd.HEALTH_KEY: argocd.SCRIPT.read_text(encoding="utf-8"),
    }
