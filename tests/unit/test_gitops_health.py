"""What GitOps tools say about an LLMService, computed by the tools' own rules.

Flux, cli-utils and kubectl-based tools compute health with kstatus: the tests run
kstatus itself (``llmservice_testkit.kstatus``, a small Go program around
``sigs.k8s.io/cli-utils/pkg/kstatus``), so they skip, saying why, where Go is missing.
Argo CD runs the Lua health check we ship (deploy/argocd/llmservice-health.lua); the tests
run it in Lua 5.1, the language Argo CD embeds, with only the libraries a health check
may count on.

Each situation of the README's table "What the status means" is a world (the helpers of
status_worlds.py) whose computed status is put on an LLMService object; the README's
kstatus and Argo CD columns are read back and must match what the tools say, and its
phase and condition columns what :func:`compute_status` says.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import support
import yaml
from llmservice_operator.api.models import GROUP_VERSION, KIND, LLMServiceSpec
from llmservice_operator.core.status import (
    CAPACITY_GRACE,
    RESTART_WINDOW,
    Observed,
    compute_status,
    condition,
)
from llmservice_testkit import argocd, kstatus
from status_worlds import (
    container,
    deployment,
    hpa,
    oom,
    pending_pod,
    running_pod,
    world,
)

HEALTH_SCRIPT = argocd.SCRIPT
HEALTH_KEY = argocd.HEALTH_KEY
README = support.ROOT / "README.md"

# --------------------------------------------------------------------------------------
# the LLMService objects the tools read


def llmservice_object(status: dict[str, Any] | None, generation: int = 1) -> dict[str, Any]:
    """The LLMService as the API server returns it: the spec's generation in metadata and,
    when the operator has written one, its status (through JSON, as stored)."""
    obj: dict[str, Any] = {
        "apiVersion": GROUP_VERSION,
        "kind": KIND,
        "metadata": {
            "name": "chat",
            "namespace": "ns",
            "generation": generation,
            "uid": "0b7c2a5e-6f1d-4a57-9d0e-3f1e2c4b5a69",
            "creationTimestamp": "2026-03-01T11:59:00Z",
        },
        "spec": {"model": {"name": "tinyllama"}},
    }
    if status is not None:
        obj["status"] = json.loads(json.dumps(status))
    return obj


CRASHING = container(ready=False, waiting="CrashLoopBackOff", restarts=4)


def serving_pods(*names: str) -> list[dict[str, Any]]:
    return [running_pod(n, container(), container("ollama")) for n in names]


def starting_pod(name: str) -> dict[str, Any]:
    return running_pod(name, container(ready=False), container("ollama", ready=False))


# Every row of the README's table, by its exact situation text, with the worlds that
# stand for it.
SITUATIONS: dict[str, list[Callable[[], Observed]]] = {
    "new service, pods starting or loading the model": [
        lambda: world(5, [], deployment=None, hpa=None),
        lambda: world(
            30,
            [starting_pod("chat-a"), starting_pod("chat-b")],
            deployment=deployment(spec_replicas=2, replicas=2, ready=0),
        ),
    ],
    "every wanted pod ready, rollout done": [
        lambda: world(0, serving_pods("chat-a", "chat-b")),
    ],
    "scale-up (HPA 2 -> 4), new pods starting": [
        lambda: world(
            60,
            [*serving_pods("chat-a", "chat-b"), starting_pod("chat-c"), starting_pod("chat-d")],
            deployment=deployment(spec_replicas=4, replicas=4, ready=2),
            hpa=hpa(2, 4),
        ),
    ],
    "scale-up, new pods waiting for a node, others serving (within the capacity grace)": [
        lambda: world(
            60,
            [*serving_pods("chat-a", "chat-b"), pending_pod("chat-c", since=0)],
            deployment=deployment(spec_replicas=3, replicas=3, ready=2),
            hpa=hpa(2, 3),
        ),
    ],
    "the same after `LLMSERVICE_CAPACITY_GRACE` (600 s)": [
        lambda: world(
            CAPACITY_GRACE + 1,
            [*serving_pods("chat-a", "chat-b"), pending_pod("chat-c", since=0)],
            deployment=deployment(spec_replicas=3, replicas=3, ready=2),
            hpa=hpa(2, 3),
        ),
    ],
    "no pod can be placed and none serves": [
        lambda: world(
            5,
            [pending_pod("chat-a", since=0), pending_pod("chat-b", since=0)],
            deployment=deployment(spec_replicas=2, replicas=2, ready=0),
        ),
    ],
    "rolling update after a spec change (old pods serve until new ones are ready)": [
        lambda: world(
            30,
            [*serving_pods("chat-a", "chat-b"), starting_pod("chat-c")],
            generation=2,
            deployment=deployment(spec_replicas=2, replicas=3, ready=2, updated=1),
        ),
    ],
    "one pod fails (CrashLoopBackOff, OOMKilled, ...) while the floor serves": [
        lambda: world(
            30,
            [*serving_pods("chat-a", "chat-b"), running_pod("chat-c", CRASHING)],
            deployment=deployment(spec_replicas=3, replicas=3, ready=2),
            hpa=hpa(3, 3),
        ),
        lambda: world(
            30,
            [
                *serving_pods("chat-a", "chat-b"),
                running_pod(
                    "chat-c",
                    container("ollama", ready=False, waiting="CrashLoopBackOff", last=oom(0)),
                ),
            ],
            deployment=deployment(spec_replicas=3, replicas=3, ready=2),
            hpa=hpa(3, 3),
        ),
    ],
    "pods fail and fewer than the floor serve": [
        lambda: world(
            30,
            [running_pod("chat-a", CRASHING), running_pod("chat-b", CRASHING)],
            deployment=deployment(spec_replicas=2, replicas=2, ready=0),
        ),
        lambda: world(
            30,
            [*serving_pods("chat-a"), running_pod("chat-b", CRASHING)],
            deployment=deployment(spec_replicas=2, replicas=2, ready=1),
        ),
    ],
    "a failed pod has recovered (its containers ready again)": [
        lambda: world(
            RESTART_WINDOW / 2,
            [
                *serving_pods("chat-a"),
                running_pod("chat-b", container(), container("ollama", last=oom(0), restarts=1)),
            ],
        ),
    ],
    "`spec.replicas: 0` with autoscaling off": [
        lambda: world(
            0,
            [],
            spec=LLMServiceSpec.model_validate({"replicas": 0, "autoscaling": {"enabled": False}}),
            deployment=deployment(spec_replicas=0, replicas=0, ready=0),
            hpa=None,
        ),
    ],
    "invalid spec, a child refused by the API server, a name conflict": [
        lambda: world(0, [], spec=None, invalid_spec="spec.model.name: must be name:tag"),
        lambda: world(0, serving_pods("chat-a", "chat-b"), invalid_spec="HPA chat: forbidden"),
        lambda: world(0, [], name_conflict="Deployment chat exists and is not ours"),
    ],
}


def object_of(make: Callable[[], Observed]) -> dict[str, Any]:
    observed = make()
    return llmservice_object(compute_status(observed), observed.generation)


# Two moments no row of computed status stands for: before the operator's first status,
# and after a spec change the operator has not written a status for yet (whatever the
# previous one said).
def _no_status_yet() -> dict[str, Any]:
    return llmservice_object(None)


def _stale(make: Callable[[], Observed]) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        obj = object_of(make)
        obj["metadata"]["generation"] += 1
        return obj

    return build


OBJECT_SITUATIONS: dict[str, list[Callable[[], dict[str, Any]]]] = {
    "a new LLMService before its first status (its first seconds, see below)": [_no_status_yet],
    "spec changed, status still of the old generation": [
        _stale(make)
        for key in (
            "every wanted pod ready, rollout done",
            "the same after `LLMSERVICE_CAPACITY_GRACE` (600 s)",
            "pods fail and fewer than the floor serve",
            "invalid spec, a child refused by the API server, a name conflict",
        )
        for make in SITUATIONS[key]
    ],
}


def every_object() -> Iterator[tuple[str, int, Callable[[], dict[str, Any]]]]:
    for situation, makes in SITUATIONS.items():
        for i, make in enumerate(makes):
            yield situation, i, partial(object_of, make)
    for situation, builds in OBJECT_SITUATIONS.items():
        for i, build in enumerate(builds):
            yield situation, i, build


CASES = [pytest.param(s, build, id=f"{s[:40]}-{i}") for s, i, build in every_object()]

# --------------------------------------------------------------------------------------
# the README's table


def readme_table() -> dict[str, dict[str, str]]:
    """The rows of the table under "What the status means", by situation, each cell by its
    column's header."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### What the status means") :]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    table: list[list[str]] = []
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if table and len(cells) != len(table[0]):
            break  # the next table
        table.append(cells)
    header, _rule, *rows = table
    return {row[0]: dict(zip(header, row, strict=True)) for row in rows}


def named(cell: str) -> list[str]:
    """The names a cell puts in backticks."""
    return re.findall(r"`([^`]+)`", cell)


KSTATUS_COLUMN = "kstatus (Flux, cli-utils)"
ARGO_COLUMN = "Argo CD"


def test_every_row_of_the_table_has_worlds() -> None:
    assert set(readme_table()) == set(SITUATIONS) | set(OBJECT_SITUATIONS)


@pytest.mark.parametrize(
    ("situation", "make"),
    [
        pytest.param(s, make, id=f"{s[:40]}-{i}")
        for s, makes in SITUATIONS.items()
        for i, make in enumerate(makes)
    ],
)
def test_the_table_says_what_the_status_says(situation: str, make: Callable[[], Observed]) -> None:
    """Phase and conditions as the table's columns give them: the phase among the cell's
    names; each condition's status the cell's first word and, where the cell names
    reasons, one of them."""
    row = readme_table()[situation]
    status = compute_status(make())
    assert status["phase"] in named(row["Phase"]), (situation, status["phase"])
    for type_ in ("Ready", "Progressing", "Degraded"):
        found = condition(status, type_) or {}
        cell = row[type_]
        assert cell.split()[0] == found["status"], (situation, type_, found)
        reasons = [n for n in named(cell) if n[:1].isupper()]
        if reasons:
            assert found["reason"] in reasons, (situation, type_, found)


# --------------------------------------------------------------------------------------
# kstatus


@pytest.fixture(scope="module")
def kstatus_program() -> Path:
    try:
        return kstatus.ensure()
    except kstatus.BuildUnavailable as exc:
        pytest.skip(f"kstatus is not available: {exc}")


@pytest.mark.parametrize(("situation", "build"), CASES)
def test_kstatus_says_what_the_table_says(
    kstatus_program: Path, situation: str, build: Callable[[], dict[str, Any]]
) -> None:
    (expected,) = named(readme_table()[situation][KSTATUS_COLUMN])[:1]
    (verdict,) = kstatus.compute([build()])
    assert verdict.status == expected, (situation, verdict)


def test_kstatus_reads_the_reason_of_a_stall(kstatus_program: Path) -> None:
    """Flux shows kstatus's message: for a stalled service it is the problem's own words."""
    (make,) = SITUATIONS["no pod can be placed and none serves"]
    (verdict,) = kstatus.compute([object_of(make)])
    assert verdict.status == "Failed"
    assert "cannot be scheduled" in verdict.message


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(lambda objs: "".join(json.dumps(o) + "\n" for o in objs), id="lines"),
        pytest.param(lambda objs: "".join(json.dumps(o, indent=4) for o in objs), id="indented"),
        pytest.param(json.dumps, id="array"),
        pytest.param(lambda objs: json.dumps({"kind": "List", "items": objs}), id="kube-list"),
    ],
)
def test_kstatus_reads_what_kubectl_prints(
    kstatus_program: Path, form: Callable[[list[dict[str, Any]]], str]
) -> None:
    """Objects one per line, indented (``kubectl get -o json``), in an array, or in a
    Kubernetes list (``kubectl get llms -o json``): one answer per object, in order."""
    (done,) = SITUATIONS["every wanted pod ready, rollout done"]
    (failed, _, _) = SITUATIONS["invalid spec, a child refused by the API server, a name conflict"]
    objects = [object_of(done), object_of(failed), _no_status_yet()]
    answer = subprocess.run(
        [str(kstatus_program)],
        input=form(objects),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    statuses = [json.loads(line)["status"] for line in answer.stdout.splitlines()]
    assert statuses == ["Current", "Failed", "Current"]


# --------------------------------------------------------------------------------------
# the Argo CD health check


def argo_health(obj: dict[str, Any]) -> tuple[str, str]:
    """Our health check run as Argo CD runs it (``llmservice_testkit.argocd``)."""
    try:
        return argocd.llmservice_health(obj)
    except argocd.LuaUnavailable as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize(("situation", "build"), CASES)
def test_argo_cd_says_what_the_table_says(
    situation: str, build: Callable[[], dict[str, Any]]
) -> None:
    (expected,) = named(readme_table()[situation][ARGO_COLUMN])[:1]
    health, message = argo_health(build())
    assert health == expected, (situation, health, message)
    assert message


def test_argo_cd_messages_come_from_the_relevant_condition() -> None:
    (one_fails, _) = SITUATIONS[
        "one pod fails (CrashLoopBackOff, OOMKilled, ...) while the floor serves"
    ]
    assert argo_health(object_of(one_fails)) == (
        "Degraded",
        "CrashLoopBackOff: pod chat-c container backend is crash-looping (4 restarts)",
    )
    (scale_up,) = SITUATIONS["scale-up (HPA 2 -> 4), new pods starting"]
    assert argo_health(object_of(scale_up)) == ("Progressing", "PodsNotReady: 2/4 pods ready")
    (invalid, _, _) = SITUATIONS["invalid spec, a child refused by the API server, a name conflict"]
    assert argo_health(object_of(invalid)) == (
        "Degraded",
        "InvalidSpec: spec.model.name: must be name:tag",
    )
    (done,) = SITUATIONS["every wanted pod ready, rollout done"]
    assert argo_health(object_of(done)) == ("Healthy", "AllReplicasReady: 2/2 pods ready")
    stale = object_of(done)
    stale["metadata"]["generation"] = 2
    assert argo_health(stale) == (
        "Progressing",
        "waiting for the operator to observe generation 2 (status is of generation 1)",
    )


def test_argo_cd_waits_for_conditions_of_the_current_generation() -> None:
    """A status whose top-level observedGeneration is current but whose conditions are of
    an older generation (written by hand, or by an older operator) is not trusted."""
    (done,) = SITUATIONS["every wanted pod ready, rollout done"]
    obj = object_of(done)
    obj["metadata"]["generation"] = obj["status"]["observedGeneration"] = 3
    health, message = argo_health(obj)
    assert health == "Progressing"
    assert "is of generation 1" in message


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({}, "Progressing"),
        ({"observedGeneration": 1}, "Progressing"),
        ({"observedGeneration": 1, "conditions": "nonsense"}, "Progressing"),
        ({"observedGeneration": 1, "conditions": [{"type": "Ready"}]}, "Progressing"),
        (
            {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "Unknown"}]},
            "Progressing",
        ),
        ({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}, "Healthy"),
        (
            {
                "observedGeneration": 1,
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "Progressing", "status": "True", "reason": "RolloutInProgress"},
                    {"type": "Degraded", "status": "True", "reason": "OOMKilled"},
                ],
            },
            "Degraded",
        ),
    ],
)
def test_argo_cd_check_copes_with_partial_statuses(status: dict[str, Any], expected: str) -> None:
    """Whatever the status holds, the check answers (a Lua error would show the resource
    as Unknown with the error in Argo CD's UI)."""
    health, message = argo_health(llmservice_object(status))
    assert health == expected
    assert message


def test_the_check_runs_with_only_base_table_string_and_math() -> None:
    """The runner takes the other libraries away, so the check cannot come to need them."""
    argo_health(llmservice_object(None))  # skips without lupa
    script = 'return {status = io and "Healthy" or "Missing", message = type(os)}'
    assert argocd.run_health_check(script, {}) == ("Missing", "nil")
    script = (
        'return {status = string.format("%d", math.floor(obj.n)), message = table.concat({"a"})}'
    )
    assert argocd.run_health_check(script, {"n": 2.5}) == ("2", "a")


# --------------------------------------------------------------------------------------
# installing the check


def test_the_argocd_cm_patch_carries_the_script_unchanged() -> None:
    patch = yaml.safe_load(
        (support.ROOT / "deploy" / "argocd" / "argocd-cm-patch.yaml").read_text(encoding="utf-8")
    )
    assert patch["kind"] == "ConfigMap"
    assert patch["metadata"]["name"] == "argocd-cm"
    assert patch["data"][HEALTH_KEY] == HEALTH_SCRIPT.read_text(encoding="utf-8")


@pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl (for `kubectl kustomize`) is not installed"
)
def test_the_kustomize_component_adds_the_script_to_argocd_cm(tmp_path: Path) -> None:
    """An Argo CD install (here: just its argocd-cm) that includes deploy/argocd as a
    component keeps its own settings and gains the health check, under the same name."""
    (tmp_path / "argocd-cm.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "argocd-cm", "labels": {"part-of": "argocd"}},
                "data": {"url": "https://argocd.example.test"},
            }
        )
    )
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "namespace": "argocd",
                "resources": ["argocd-cm.yaml"],
                # kustomize takes a relative path only
                "components": [os.path.relpath(HEALTH_SCRIPT.parent, tmp_path)],
            }
        )
    )
    done = subprocess.run(
        ["kubectl", "kustomize", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    (cm,) = list(yaml.safe_load_all(done.stdout))
    assert cm["metadata"]["name"] == "argocd-cm"
    assert cm["metadata"]["labels"] == {"part-of": "argocd"}
    assert cm["data"] == {
        "url": "https://argocd.example.test",
        HEALTH_KEY: HEALTH_SCRIPT.read_text(encoding="utf-8"),
    }
