"""``python -m llmservice_testkit cluster --kubeconfig FILE [--nodes N] [--real-node
[--image ARCHIVE]...]``: a real control plane with simulated nodes and, on request, a real
node running pods, until interrupted. ``--clean-real-node`` removes what a killed real node
left on this machine."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time
from pathlib import Path

from llmservice_testkit.cluster import (
    BuildFailed,
    BuildUnavailable,
    LocalCluster,
    NodeShape,
    NodeUnavailable,
    build,
    realnode,
)

HELP = (
    "run the real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, "
    "kube-scheduler; built once per machine) on loopback with N simulated nodes playing the "
    "kubelet, and with --real-node a real node (containerd, runc, kubelet, kube-proxy; root "
    "only), until SIGINT or SIGTERM, which stop exactly what it started"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="write an admin kubeconfig here (required)")
    parser.add_argument("--nodes", type=int, default=1, help="simulated nodes (default 1)")
    parser.add_argument("--node-cpu", default="16", help="CPU each node offers (default 16)")
    parser.add_argument("--node-memory", default="64Gi", help="memory per node (default 64Gi)")
    parser.add_argument(
        "--ready-delay", type=float, default=1.0, help="seconds before a pod is Ready (default 1)"
    )
    parser.add_argument(
        "--real-node",
        action="store_true",
        help="add a real node, real-node, on this host (root; its pause image is built here)",
    )
    parser.add_argument(
        "--image",
        action="append",
        default=[],
        type=Path,
        metavar="ARCHIVE",
        help="an image archive (docker-archive or OCI) to load into the real node; repeatable",
    )
    parser.add_argument(
        "--pause",
        type=Path,
        metavar="ARCHIVE",
        help="the real node's sandbox image, an archive naming one image (default: "
        "localhost/pause:dev as make images builds it)",
    )
    parser.add_argument(
        "--clean-real-node",
        action="store_true",
        help="remove what a killed real node left on this machine (chains, bridge, mounts), "
        "then exit",
    )


def run(args: argparse.Namespace) -> int:
    if args.clean_real_node:
        return _clean()
    if not args.kubeconfig:
        print("--kubeconfig: required", file=sys.stderr)
        return 2
    if args.nodes < 0:
        print("--nodes: must be 0 or more", file=sys.stderr)
        return 2
    if (args.image or args.pause) and not args.real_node:
        print("--image, --pause: only with --real-node", file=sys.stderr)
        return 2
    # Blocked and waited for, not handled: a handler setting an Event can deadlock when a
    # second signal lands while the first is being handled (seen with `timeout` + pkill).
    stops = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    shape = NodeShape(cpu=args.node_cpu, memory=args.node_memory)
    started = time.monotonic()
    try:
        cluster = LocalCluster(
            args.nodes,
            shape=shape,
            ready_delay=args.ready_delay,
            real_node=args.real_node,
            images=args.image,
            pause=args.pause,
        ).start()
    except (
        BuildUnavailable,
        BuildFailed,
        NodeUnavailable,
        RuntimeError,
        OSError,
        ValueError,
    ) as exc:
        print(f"cannot start the cluster: {exc}", file=sys.stderr)
        return 1
    try:
        target = Path(args.kubeconfig)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cluster.admin_kubeconfig, target)
        target.chmod(0o600)
        real = cluster.real_node
        node = (
            f", real node {real.name} at {real.address} ({len(real.imported)} image(s))"
            if real
            else ""
        )
        print(
            f"ready in {time.monotonic() - started:.1f} s: kube-apiserver at {cluster.url}, "
            f"{args.nodes} simulated node(s){node}; kubeconfig: {target}; files and logs: "
            f"{cluster.control_plane.workdir}",
            flush=True,
        )
        signal.sigwait(stops)
        print("stopping", flush=True)
    finally:
        stopping = time.monotonic()
        cluster.stop()
        report = cluster.node_report
        if report is not None:
            steps = ", ".join(f"{name} {took:.1f} s" for name, took in report.seconds.items())
            print(f"real node stopped ({steps})", flush=True)
            for problem in report.problems:
                print(f"real node: {problem}", file=sys.stderr, flush=True)
        print(f"stopped in {time.monotonic() - stopping:.1f} s", flush=True)
    return 0


def _clean() -> int:
    try:
        binaries = build.ensure(build.NODE)
        kube_proxy: Path | None = binaries.path("kube-proxy")
    except (BuildUnavailable, BuildFailed):
        kube_proxy = None
    try:
        done = realnode.clean_leftovers(kube_proxy)
    except NodeUnavailable as exc:
        print(f"not cleaned: {exc}", file=sys.stderr)
        return 1
    print("\n".join(done) or "nothing left behind", flush=True)
    return 0
