"""Convergence under faults, at 200 LLMServices, on the emulator and on the real control
plane side by side (the test of the same run, with 50, is
tests/integration/test_convergence_faults.py and tests/cluster/test_real_convergence.py).

The operator talks to the API server through a fault proxy
(:mod:`llmservice_testkit.faultproxy`): a fraction of its requests fail with 500, 429 or
409 or get no answer at all, its watches are cut every few seconds, and its process is
SIGKILLed three times while the LLMServices are created, a fifth of them edited and a
seventh deleted. Printed for each: seconds until every LLMService has exactly its children
(owned, no orphans) and a current Ready status, the faults met, and the writes of an idle
period afterwards.

Run: ``.venv/bin/python benchmarks/convergence_faults.py [--count 200] [--fraction 0.15]
[--emulator-only]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import operator_scale as bench
import yaml
from llmservice_testkit import convergence
from llmservice_testkit.emulator.thread import ServerThread
from llmservice_testkit.faultproxy import FaultPlan, FaultProxy
from llmservice_testkit.playground import PlayedControllers
from llmservice_testkit.pytest_plugin import api_client_for

ROOT = Path(__file__).resolve().parents[1]
OPERATOR_ENV = {
    "LLMSERVICE_REQUEST_TIMEOUT": "2",
    "LLMSERVICE_FIRST_STATUS_DELAY": "0",
    "LLMSERVICE_STATUS_DEBOUNCE": "0.1",
}


class KillableOperator(bench.OperatorProcess):
    def kill_and_restart(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.process = None
        self.start()


def one_run(
    api_client: Any,
    upstream: str,
    kubeconfig: Path,
    workdir: Path,
    args: argparse.Namespace,
    ca_file: Path | None = None,
    tick: Any = None,
) -> convergence.Outcome:
    plan = FaultPlan(fraction=args.fraction, hang_seconds=3.0, watch_seconds=5.0, seed=args.seed)
    with FaultProxy(upstream, plan, ca_file) as proxy:
        proxied = proxy.kubeconfig(kubeconfig, workdir / "proxied.kubeconfig")
        operator = KillableOperator(proxied, "chaos", workdir)
        operator.start()
        try:
            return convergence.run(
                convergence.Api(api_client, "chaos"),
                proxy,
                args.count,
                operator.kill_and_restart,
                timeout=args.timeout,
                tick=tick,
            )
        finally:
            operator.stop()


def run_emulator(args: argparse.Namespace) -> convergence.Outcome:
    with (
        tempfile.TemporaryDirectory() as tmp,
        ServerThread(kubeconfig_path=Path(tmp) / "kc") as server,
    ):
        api_client = api_client_for(server)
        api = bench.Api(server.url)
        api.post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            yaml.safe_load(bench.CRD.read_text()),
        )
        api.post("/api/v1/namespaces", {"metadata": {"name": "chaos"}})
        assert server.kubeconfig_path is not None
        tick = PlayedControllers(api_client).tick
        return one_run(api_client, server.url, server.kubeconfig_path, Path(tmp), args, tick=tick)


def run_real(args: argparse.Namespace) -> convergence.Outcome:
    from llmservice_testkit.cluster import LocalCluster, NodeShape
    from llmservice_testkit.cluster.session import prepare

    nodes = max(2, math.ceil(2 * args.count / 200))
    shape = NodeShape(cpu="1000", memory="4Ti", pods=250)
    workdir = Path(tempfile.mkdtemp(prefix="bench-chaos-"))
    with LocalCluster(nodes, shape=shape, ready_delay=1.0, hpa_sync_seconds=15.0) as cluster:
        real = prepare(cluster, workdir, ROOT)
        real.kubectl("create", "namespace", "chaos")
        api_client = real.api_client()
        plane = cluster.control_plane
        return one_run(
            api_client,
            plane.url,
            real.operator_kubeconfig,
            workdir,
            args,
            ca_file=plane.pki.ca_cert,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="LLMServices to create")
    parser.add_argument("--fraction", type=float, default=0.15, help="requests that fail")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after")
    parser.add_argument("--emulator-only", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    os.environ.update(OPERATOR_ENV)
    results: dict[str, convergence.Outcome] = {}
    bench.log(f"emulator: {args.count} LLMServices under faults")
    results["emulator"] = run_emulator(args)
    bench.log(f"emulator: {results['emulator'].summary()}")
    if not args.emulator_only:
        bench.log(f"real control plane: {args.count} LLMServices under faults")
        results["real control plane"] = run_real(args)
        bench.log(f"real control plane: {results['real control plane'].summary()}")
    print()
    print(f"{'':24}" + "".join(f"{name:>22}" for name in results))
    rows = {
        "converged (s)": lambda o: (
            f"{o.converged_seconds:.1f}" if o.converged_seconds is not None else "never"
        ),
        "operator SIGKILLs": lambda o: str(o.kills),
        "500 / 429 / 409": lambda o: f"{o.faults['500']} / {o.faults['429']} / {o.faults['409']}",
        "no answer (hang)": lambda o: str(o.faults["hang"]),
        "watches cut": lambda o: str(o.faults["watch cut"]),
        "problems left": lambda o: str(len(o.remaining)),
        "writes idle (10 s)": lambda o: str(len(o.idle_writes)),
    }
    for label, show in rows.items():
        print(f"{label:24}" + "".join(f"{show(o):>22}" for o in results.values()))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    name: {
                        "converged_seconds": o.converged_seconds,
                        "kills": o.kills,
                        "faults": dict(o.faults),
                        "remaining": o.remaining,
                        "idle_writes": o.idle_writes,
                    }
                    for name, o in results.items()
                },
                indent=2,
            )
        )
    failed = [n for n, o in results.items() if o.converged_seconds is None or o.idle_writes]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
