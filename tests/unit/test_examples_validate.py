"""Every example is a valid LLMService, and every child it becomes is a valid Kubernetes
object for the oldest and the newest Kubernetes version we support (strict schemas: an
unknown or misplaced field fails, as it would under ``kubectl apply --validate=strict``)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import support
from llmservice_operator.api.models import LLMService
from llmservice_operator.builders import build_children
from llmservice_operator.tools.render import command as render
from llmservice_operator.tools.render.cel import Quantity
from llmservice_operator.tools.render.upstream import NOT_KUBERNETES

EXAMPLES = support.EXAMPLES


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    """What the strict upstream schemas of each supported version say about ``manifest``;
    for kinds Kubernetes does not define, what their own CRD's schema says, where we have
    it (the Gateway API's: support.crd_kind_errors)."""
    if manifest["apiVersion"].split("/")[0] in NOT_KUBERNETES:
        return support.foreign_kind_errors(manifest)
    errors = []
    for version in support.KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            errors.append(f"{version} {manifest['kind']}: {path}: {error.message}")
    return errors


def load_example(path: Path) -> LLMService:
    document = support.load_example(path)
    document["metadata"].setdefault("namespace", "default")
    return render.validate(document, path.name)


def test_the_examples_issue_2_asks_for_exist() -> None:
    names = {p.stem for p in EXAMPLES}
    assert {"tinyllama", "minimal", "fixed-replicas", "gpu", "persistent-cache"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_opens_with_a_comment_header(path: Path) -> None:
    header = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    assert len(header) >= 2, f"{path.name}: say what the example shows in a comment header"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_a_valid_llmservice(path: Path) -> None:
    service = load_example(path)  # one document per file
    assert service.kind == "LLMService"


OWNER_UID = "6f1d2c3b-0000-4000-8000-000000000001"


@pytest.mark.parametrize("uid", [None, OWNER_UID], ids=["offline", "owned"])
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_child_of_example_validates_strictly(path: Path, uid: str | None) -> None:
    service = load_example(path)
    service.metadata.uid = uid
    children = build_children(service)
    assert children
    problems = [e for child in children for e in schema_errors(child)]
    assert problems == []


def test_seed_example_matches_the_seeds() -> None:
    service = load_example(support.EXAMPLES_DIR / "tinyllama.yaml")
    kinds = {c["kind"]: c for c in build_children(service)}
    assert kinds["Service"]["spec"]["type"] == "NodePort"
    hpa = kinds["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    targets = {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]
    }
    assert targets == {"cpu": 70, "memory": 80}
    assert service.spec.model.name == "tinyllama"


GI = 1024**3
# Resident memory of a pod at idle with the model loaded (keepAlive -1 keeps it so): Ollama
# with the weights, the KV cache for numParallel contexts and its runtime, plus the backend.
# Extend this when an example serves another model with autoscaling on memory.
LOADED_POD_BYTES = {"tinyllama": int(1.2 * GI)}
# Idle use must stay well under the target, or the HPA counts a loaded model as load.
IDLE_SHARE_OF_TARGET = 0.75


def scales_on_memory(path: Path) -> bool:
    autoscaling = load_example(path).spec.autoscaling
    return autoscaling.enabled and autoscaling.target_memory_utilization_percentage is not None


MEMORY_SCALED = [path for path in EXAMPLES if scales_on_memory(path)]


def test_some_examples_scale_on_memory() -> None:
    assert {p.stem for p in MEMORY_SCALED} >= {"tinyllama", "minimal"}


@pytest.mark.parametrize("path", MEMORY_SCALED, ids=lambda p: p.stem)
def test_memory_target_is_not_reached_by_an_idle_loaded_model(path: Path) -> None:
    """With requests near the loaded model's size, the memory target is met at idle and the
    HPA sits at maxReplicas for ever: memory is a load signal only with requests well above
    what the loaded model holds."""
    spec = load_example(path).spec
    target = spec.autoscaling.target_memory_utilization_percentage
    assert target is not None
    assert spec.model.name in LOADED_POD_BYTES, f"add the loaded size of {spec.model.name}"
    requested = sum(
        Quantity(resources.requests["memory"]).value
        for resources in (spec.backend.resources, spec.ollama.resources)
    )
    idle_percent = 100 * LOADED_POD_BYTES[spec.model.name] / requested
    assert idle_percent <= IDLE_SHARE_OF_TARGET * target, (
        f"{path.name}: an idle pod uses ~{idle_percent:.0f} % of its memory requests, "
        f"against a target of {target} %: raise spec.ollama.resources.requests.memory"
    )


def test_no_example_unloads_an_idle_model() -> None:
    """Examples keep the model loaded (keepAlive -1): an idle pod stays Ready either way, but
    with an unloading keepAlive the first chat after a quiet spell pays the load time and the
    idle-memory figures above no longer hold."""
    for path in EXAMPLES:
        document = support.load_example(path)
        assert "keepAlive" not in document.get("spec", {}).get("model", {}) or (
            document["spec"]["model"]["keepAlive"] == "-1"
        ), path.name


@pytest.mark.parametrize("version", support.KUBERNETES_VERSIONS)
def test_the_strict_check_rejects_what_kubernetes_would(version: str) -> None:
    # Guard against a check that passes everything: a misplaced field, a wrong type and a
    # sidecar field on the wrong container must each fail.
    service = load_example(support.EXAMPLES_DIR / "minimal.yaml")
    deployment = build_children(service)[0]

    unknown = copy.deepcopy(deployment)
    unknown["spec"]["template"]["spec"]["containers"][0]["gpu"] = 1
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "soon"
    misplaced = copy.deepcopy(deployment)
    misplaced["spec"]["template"]["spec"]["initContainers"][0]["replicas"] = 2
    for bad in (unknown, wrong_type, misplaced):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, version, strict=True)
