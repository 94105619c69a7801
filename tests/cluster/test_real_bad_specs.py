"""The table of bad LLMServices (tests/unit/badspecs.py) on the real control plane: each is
``kubectl apply``-ed against kube-apiserver with our CRD installed (its CEL rules within the
real cost budget, or the CRD itself would have been refused at the session's start), and
ends as the table says: refused at apply naming the field, or stored and then reported by
the operator as Failed/InvalidSpec naming the field.

One operator, one namespace: every case is applied (four at a time), then the stored ones
are waited for together. The figures are printed (``pytest -s``) for docs/reliability.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from realcluster import ROOT, Cluster, Operator, Real, wait_for

sys.path.insert(0, str(ROOT / "tests" / "unit"))  # the table, shared with the unit tests

from badspecs import APPLY, CASES, INVALID_SPEC, TAKEN_NODE_PORT, BadSpec

pytestmark = pytest.mark.slow


def _apply(real: Real, namespace: str, case: BadSpec) -> subprocess.CompletedProcess[str]:
    side = ["--server-side"] if case.server_side else []
    return real.kubectl(
        "apply", *side, "-n", namespace, "-f", "-", stdin=case.document(), check=False
    )


def _ready(item: dict[str, Any]) -> dict[str, Any]:
    conditions = (item.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), {})


def test_every_bad_spec_is_refused_at_apply_or_reported_invalid_naming_the_field(
    real: Real, namespace: str, cluster: Cluster, operator: Operator
) -> None:
    real.kubectl(
        "create", "service", "nodeport", "holder", "--tcp=80:8080",
        f"--node-port={TAKEN_NODE_PORT}", "-n", namespace,
    )  # fmt: skip
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        applied = dict(
            zip(CASES, pool.map(lambda c: _apply(real, namespace, c), CASES), strict=True)
        )
    applying = time.monotonic() - started

    problems: list[str] = []
    for case, done in applied.items():
        refused = done.returncode != 0
        if case.outcome == APPLY and not refused:
            problems.append(f"{case.id}: accepted at apply; expected refused naming {case.field}")
        elif case.outcome == APPLY and (
            case.field not in done.stderr or case.fragment not in done.stderr
        ):
            problems.append(f"{case.id}: refused without naming {case.field}: {done.stderr}")
        elif case.outcome == INVALID_SPEC and refused:
            problems.append(f"{case.id}: refused at apply, expected InvalidSpec: {done.stderr}")

    stored = {c.id: c for c in CASES if c.outcome == INVALID_SPEC}

    def reported() -> dict[str, dict[str, Any]] | None:
        listing = json.loads(real.kubectl("get", "llms", "-n", namespace, "-o", "json").stdout)
        items = {item["metadata"]["name"]: item for item in listing["items"]}
        done = {
            name: item
            for name, item in items.items()
            if (item.get("status") or {}).get("phase") == "Failed"
        }
        return done if set(stored) <= set(done) else None

    items = wait_for(reported, f"the {len(stored)} stored bad specs to be reported Failed")
    waiting = time.monotonic() - started - applying
    for name, case in stored.items():
        status, ready = items[name]["status"], _ready(items[name])
        message = ready.get("message", "")
        if ready.get("reason") != "InvalidSpec" or case.field not in message:
            problems.append(f"{name}: {ready.get('reason')}: {message}; expected {case.field}")
        elif case.fragment not in message:
            problems.append(f"{name}: {message}; expected {case.fragment!r}")
        if status.get("observedGeneration") != 1:
            problems.append(f"{name}: observedGeneration {status.get('observedGeneration')}")
        if case.needs is None and cluster.deployment(name) is not None:
            problems.append(f"{name}: a Deployment was written for a spec read as invalid")

    outcomes = Counter(case.outcome for case in CASES)
    print(
        f"\nbad specs on the real control plane: {len(CASES)} tried; "
        f"{outcomes[APPLY]} refused at apply, {outcomes[INVALID_SPEC]} InvalidSpec "
        f"({sum(c.needs is not None for c in CASES)} of them refused by the API server for a "
        f"child); applying {applying:.1f} s, InvalidSpec reported {waiting:.1f} s later"
    )
    assert problems == []
