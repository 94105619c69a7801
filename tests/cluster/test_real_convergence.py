"""Convergence under faults on the real control plane: the emulator's run
(tests/integration/test_convergence_faults.py) with kube-apiserver, kube-controller-manager
and the simulated kubelets behind the fault proxy; and the operator riding out restarts of
kube-apiserver and etcd themselves."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from llmservice_testkit import convergence
from llmservice_testkit.faultproxy import FaultPlan, FaultProxy
from operator_helpers import running_operator
from realcluster import Cluster, Real, apply, llms, operator_in, wait_for
from test_real_operator import fixed

pytestmark = pytest.mark.slow
SERVICES = 50
OPERATOR_ENV = {
    "LLMSERVICE_REQUEST_TIMEOUT": "2",
    "LLMSERVICE_FIRST_STATUS_DELAY": "0",
}
PLAN = FaultPlan(fraction=0.15, hang_seconds=3.0, watch_seconds=5.0, seed=23)


@pytest.mark.timeout(900)
def test_fifty_llmservices_converge_under_faults_kills_and_cut_watches(
    real: Real,
    namespace: str,
    admin_api: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    record_property: Any,
) -> None:
    plane = real.cluster.control_plane
    with FaultProxy(plane.url, PLAN, ca_file=plane.pki.ca_cert) as proxy:
        kubeconfig = proxy.kubeconfig(real.operator_kubeconfig, tmp_path / "proxied")
        with running_operator(
            kubeconfig, [namespace], tmp_path / "operator.log", OPERATOR_ENV
        ) as op:
            mark = real.audit_mark()
            outcome = convergence.run(
                convergence.Api(admin_api, namespace),
                proxy,
                SERVICES,
                op.kill_and_restart,
                timeout=400,
            )
    with capsys.disabled():
        print(f"\nreal control plane: {outcome.summary()}")
    record_property("convergence_seconds", outcome.converged_seconds)
    assert outcome.converged_seconds is not None, "\n".join(
        [*outcome.remaining[:40], op.logs()[-3000:]]
    )
    assert outcome.remaining == []
    assert outcome.idle_writes == [], "\n".join(outcome.idle_writes)
    assert outcome.kills == 3
    for kind in ("500", "429", "409", "hang", "watch cut"):
        assert outcome.faults[kind] > 0, outcome.faults
    # The API server's own account agrees: the operator, under its ServiceAccount, wrote at
    # least the children of every LLMService (its only way there was the proxy).
    assert len(real.writes(mark)) >= SERVICES * 3


def test_the_operator_rides_out_api_server_and_etcd_restarts(
    real: Real, namespace: str, cluster: Cluster, tmp_path: Path
) -> None:
    plane = real.cluster.control_plane
    with operator_in(real, [namespace], tmp_path / "operator.log") as op:
        for name in ("one", "two"):
            apply(real, namespace, fixed(name))
        for name in ("one", "two"):
            wait_for(lambda n=name: _settled(real, namespace, n), f"{name} Ready")
        for component in ("etcd", "kube-apiserver"):
            plane.restart(component)
            # Changes made after each restart are seen and applied: the watches came back.
            apply(real, namespace, fixed("one", replicas=2 if component == "etcd" else 1))
            apply(real, namespace, fixed(f"after-{component}"))
            wait_for(
                lambda c=component: (
                    _settled(real, namespace, "one") and _settled(real, namespace, f"after-{c}")
                ),
                f"the changes after the {component} restart applied",
                timeout=120,
            )
            deployment = cluster.deployment("one") or {}
            assert deployment["spec"]["replicas"] == (2 if component == "etcd" else 1)
        assert op.process is not None
        assert op.process.poll() is None, op.logs()  # the same process throughout
        time.sleep(3)
        mark = real.audit_mark()
        time.sleep(8)
        assert real.writes(mark) == [], real.explain_writes(mark)


def _settled(real: Real, namespace: str, name: str) -> bool:
    try:
        doc = llms(real, namespace, name)
    except AssertionError:
        return False  # kubectl failed: the API server is still coming back
    status = doc.get("status") or {}
    return bool(
        status.get("phase") == "Ready"
        and status.get("observedGeneration") == doc["metadata"]["generation"]
    )
