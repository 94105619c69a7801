"""``operator_scale.py --real``: the same run on the real control plane, beside the emulator's.

The operator (under the ServiceAccount and ClusterRole of ``deploy/``) reconciles N
LLMServices on etcd, kube-apiserver, kube-controller-manager and kube-scheduler built from
the Kubernetes Go module; the real Deployment and ReplicaSet controllers make 2 pods per
service, the scheduler binds them to simulated nodes whose agent reports them Running and
Ready (the only thing played), the real HPA controller reports the autoscalers (without
metrics). Measured:

- the time from the first create until every LLMService reports Ready;
- the operator's mutating requests per LLMService, from the API server's audit log (the
  server's own account, under the operator's identity);
- its mutating requests while idle, and after a restart;
- its peak RSS;
- a plain client making the same number and mix of writes on the same, otherwise idle,
  control plane (same concurrency as the operator's API threads), and the ratio.

Then the emulator run (``operator_scale.py`` without ``--real``) is made in a subprocess
and both columns are printed side by side.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import operator_scale as bench
from llmservice_testkit.cluster import LocalCluster, NodeShape
from llmservice_testkit.cluster.session import prepare

ROOT = Path(__file__).resolve().parents[1]
LLMS = bench.LLMS
PODS_PER_NODE = 250


def classify(event: dict[str, Any]) -> str:
    """An audit event as the emulator run's kinds of write."""
    ref = event.get("objectRef") or {}
    if ref.get("subresource") == "status":
        return "status patch"
    if ref.get("resource") == "events":
        return "event"
    if event.get("verb") == "patch":
        return f"apply {ref.get('resource')}"
    return f"{event.get('verb')} {ref.get('resource')}"


def run_real(args: argparse.Namespace) -> dict[str, Any]:
    nodes = max(2, math.ceil(2 * args.count / (PODS_PER_NODE * 0.8)))
    shape = NodeShape(cpu="1000", memory="4Ti", pods=PODS_PER_NODE)
    workdir = Path(tempfile.mkdtemp(prefix="bench-real-"))
    bench.log(f"starting the real control plane with {nodes} simulated nodes")
    with LocalCluster(nodes, shape=shape, ready_delay=1.0, hpa_sync_seconds=15.0) as cluster:
        real = prepare(cluster, workdir, ROOT)
        cp = cluster.control_plane
        bench.AUTH.update(
            headers={"Authorization": f"Bearer {cp.pki.admin.token}"}, verify=str(cp.pki.ca_cert)
        )
        api = bench.Api(cluster.url)
        for ns in ("bench", "raw"):
            api.post("/api/v1/namespaces", {"metadata": {"name": ns}})
        operator = bench.OperatorProcess(real.operator_kubeconfig, "bench", workdir)
        operator.start()
        bench.log(f"operator up; creating {args.count} LLMServices")
        counter = bench.ReadyCounter(cluster.url, "bench")
        mark = real.audit_mark()
        created_at: dict[str, float] = {}

        def create(i: int) -> None:
            name = f"svc-{i:04d}"
            api.post(
                f"{LLMS}/namespaces/bench/llmservices",
                {"apiVersion": "llmservice.dev/v1alpha1", "kind": "LLMService",
                 "metadata": {"name": name}},
            )  # fmt: skip
            created_at[name] = time.monotonic()

        start = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(args.count)))
        bench.log(f"created in {time.monotonic() - start:.1f} s; waiting for Ready")
        ready = 0
        while ready < args.count and time.monotonic() - start < args.timeout:
            time.sleep(0.5)
            now_ready = counter.count()
            if now_ready // 100 != ready // 100:
                bench.log(
                    f"  {now_ready}/{args.count} Ready after {time.monotonic() - start:.1f} s"
                )
            ready = now_ready
        to_ready = (
            max(counter.ready_at.values()) if counter.ready_at else time.monotonic()
        ) - start
        latencies = sorted(counter.ready_at[n] - created_at[n] for n in counter.ready_at)
        writes = real.write_events(mark)
        per_kind = Counter(classify(w) for w in writes)
        rss_first = operator.peak_rss_mb()
        cpu_first = operator.cpu_seconds()
        bench.log(f"all Ready: {ready}/{args.count} in {to_ready:.1f} s; {len(writes)} writes")

        # The real HPA controller reports every 15 s: its first reports (no metrics) change
        # the status once more after Ready. Idling is measured once those have come.
        time.sleep(max(args.settle, 35.0))
        mark = real.audit_mark()
        time.sleep(args.idle)
        idle_writes = real.write_events(mark)
        bench.log(f"idle {args.idle:.0f} s: {len(idle_writes)} operator writes")

        operator.stop()
        mark = real.audit_mark()
        resumed = bench.resume(operator, args)
        restart_writes = real.write_events(mark)
        rss_second = operator.peak_rss_mb()
        bench.log(f"restart: resumed in {resumed:.1f} s; {len(restart_writes)} operator writes")
        operator.stop()
        counter.close()

        mix = bench.plain_mix(per_kind, args.count)
        bench.log("the plain client: the same writes on the same control plane, otherwise idle")
        raw_time = bench.PlainClient(cluster.url, "raw", mix, args.workers).alone(len(writes))
        bench.log(f"  {raw_time:.1f} s")
    return {
        "llmservices": args.count,
        "simulated_nodes": nodes,
        "ready": ready,
        "seconds_to_all_ready": round(to_ready, 1),
        "operator_writes": len(writes),
        "writes_per_llmservice": round(len(writes) / max(1, args.count), 2),
        "writes_by_kind": dict(per_kind),
        "idle_seconds": args.idle,
        "idle_writes": len(idle_writes),
        "idle_writes_by_kind": dict(Counter(classify(w) for w in idle_writes)),
        "restart_writes": len(restart_writes),
        "restart_writes_by_kind": dict(Counter(classify(w) for w in restart_writes)),
        "restart_resume_seconds": round(resumed, 1),
        "peak_rss_mb": round(max(rss_first, rss_second), 1),
        "operator_cpu_seconds_to_ready": cpu_first,
        "create_to_ready_seconds": bench.percentiles(latencies),
        "plain_client_seconds_same_writes": round(raw_time, 1),
        "ratio_operator_to_plain": round(to_ready / raw_time, 2) if raw_time else None,
    }


def main_real(args: argparse.Namespace) -> int:
    # A SIGTERM ends the run through the context managers, which stop the control plane.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    real = run_real(args)
    bench.log("the emulator run, for the side-by-side table")
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [
            sys.executable, str(Path(bench.__file__)), "--count", str(args.count),
            "--idle", str(args.idle), "--workers", str(args.workers), "--json", out.name,
        ]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        emulator = json.loads(Path(out.name).read_text())
    print(json.dumps({"real": real, "emulator": emulator}, indent=2))
    print()
    print("| measure | real control plane | emulator |")
    print("|---|---|---|")
    rows = [
        ("LLMServices created at once", "llmservices", ""),
        ("all Ready after (s)", "seconds_to_all_ready", ""),
        ("operator mutating requests per LLMService", "writes_per_llmservice", ""),
        (f"operator writes while idle {args.idle:.0f} s", "idle_writes", ""),
        ("operator writes after a restart", "restart_writes", ""),
        ("operator peak RSS (MB)", "peak_rss_mb", ""),
        ("plain client, same writes, alone (s)", "plain_client_seconds_same_writes", ""),
        ("ratio operator / plain client", "ratio_operator_to_plain", ""),
    ]
    for label, key, _ in rows:
        print(f"| {label} | {real.get(key)} | {emulator.get(key)} |")
    lat = real["create_to_ready_seconds"]
    print(f"| create to Ready, each (real) | p50 {lat.get('p50')} s, p90 {lat.get('p90')} s | |")
    if args.json:
        Path(args.json).write_text(json.dumps({"real": real, "emulator": emulator}, indent=2))
    return 0
