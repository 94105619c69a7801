"""Fifty LLMServices converge while the operator's requests fail (500, 429, 409, no answer),
its watches are cut every few seconds and it is killed three times; afterwards it writes
nothing. On the emulator, with its played controllers moving Deployments on; the same run
on the real control plane is tests/cluster/test_real_convergence.py, and with 200
LLMServices benchmarks/convergence_faults.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llmservice_testkit import convergence
from llmservice_testkit.emulator.thread import ServerThread
from llmservice_testkit.faultproxy import FaultPlan, FaultProxy
from llmservice_testkit.playground import PlayedControllers
from llmservice_testkit.pytest_plugin import api_client_for
from operator_helpers import Operator, install_crd

pytestmark = pytest.mark.slow
SERVICES = 50
# A hung request is given up after the operator's request timeout (set short here), then
# retried; the proxy holds it a little longer than that.
OPERATOR_ENV = {"LLMSERVICE_REQUEST_TIMEOUT": "2", "LLMSERVICE_FIRST_STATUS_DELAY": "0"}
PLAN = FaultPlan(fraction=0.15, hang_seconds=3.0, watch_seconds=5.0, seed=17)


def test_fifty_llmservices_converge_under_faults_kills_and_cut_watches(
    fresh_apiserver: ServerThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    record_property: Any,
) -> None:
    from kubernetes import client

    api_client = api_client_for(fresh_apiserver)
    install_crd(api_client)
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": "chaos"}})
    assert fresh_apiserver.kubeconfig_path is not None
    with FaultProxy(fresh_apiserver.url, PLAN) as proxy:
        kubeconfig = proxy.kubeconfig(fresh_apiserver.kubeconfig_path, tmp_path / "proxied")
        op = Operator(kubeconfig, ["chaos"], tmp_path / "operator.log", OPERATOR_ENV).start()
        try:
            outcome = convergence.run(
                convergence.Api(api_client, "chaos"),
                proxy,
                SERVICES,
                op.kill_and_restart,
                tick=PlayedControllers(api_client).tick,
                timeout=300,
            )
        finally:
            op.stop()
    with capsys.disabled():
        print(f"\nemulator: {outcome.summary()}")
    record_property("convergence_seconds", outcome.converged_seconds)
    assert outcome.converged_seconds is not None, "\n".join(
        [*outcome.remaining[:40], op.logs()[-3000:]]
    )
    assert outcome.remaining == []
    assert outcome.idle_writes == [], "\n".join(outcome.idle_writes)
    assert outcome.kills == 3
    # The faults did happen: a proxy that forwarded everything would prove nothing.
    for kind in ("500", "429", "409", "hang", "watch cut"):
        assert outcome.faults[kind] > 0, outcome.faults
