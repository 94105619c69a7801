"""``python -m llmservice_testkit cluster --kubeconfig FILE [--nodes N]``: a real control
plane with simulated nodes, until interrupted."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time
from pathlib import Path

from llmservice_testkit.cluster import BuildFailed, BuildUnavailable, LocalCluster, NodeShape

HELP = (
    "run the real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, "
    "kube-scheduler; built once per machine) on loopback with N simulated nodes playing the "
    "kubelet, until SIGINT or SIGTERM, which stop exactly what it started"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", required=True, help="write an admin kubeconfig here")
    parser.add_argument("--nodes", type=int, default=1, help="simulated nodes (default 1)")
    parser.add_argument("--node-cpu", default="16", help="CPU each node offers (default 16)")
    parser.add_argument("--node-memory", default="64Gi", help="memory per node (default 64Gi)")
    parser.add_argument(
        "--ready-delay", type=float, default=1.0, help="seconds before a pod is Ready (default 1)"
    )


def run(args: argparse.Namespace) -> int:
    if args.nodes < 0:
        print("--nodes: must be 0 or more", file=sys.stderr)
        return 2
    # Blocked and waited for, not handled: a handler setting an Event can deadlock when a
    # second signal lands while the first is being handled (seen with `timeout` + pkill).
    stops = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    shape = NodeShape(cpu=args.node_cpu, memory=args.node_memory)
    started = time.monotonic()
    try:
        cluster = LocalCluster(args.nodes, shape=shape, ready_delay=args.ready_delay).start()
    except (BuildUnavailable, BuildFailed, RuntimeError) as exc:
        print(f"cannot start the cluster: {exc}", file=sys.stderr)
        return 1
    try:
        target = Path(args.kubeconfig)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cluster.admin_kubeconfig, target)
        target.chmod(0o600)
        print(
            f"ready in {time.monotonic() - started:.1f} s: kube-apiserver at {cluster.url}, "
            f"{args.nodes} simulated node(s); kubeconfig: {target}; files and logs: "
            f"{cluster.control_plane.workdir}",
            flush=True,
        )
        signal.sigwait(stops)
        print("stopping", flush=True)
    finally:
        cluster.stop()
    return 0
