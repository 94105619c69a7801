"""``python -m llmservice_testkit serve --port 0 --kubeconfig FILE``: the local API server,
by hand, until interrupted."""

from __future__ import annotations

import argparse
import signal
import threading

from llmservice_testkit.emulator.thread import ServerThread

HELP = (
    "serve a local Kubernetes API server on 127.0.0.1 until interrupted (not a cluster: "
    "no scheduler, no kubelet, no controllers besides garbage collection)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--kubeconfig", required=True, help="write a kubeconfig for it here")


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with ServerThread(port=args.port, kubeconfig_path=args.kubeconfig) as server:
        print(f"serving on {server.url}; kubeconfig: {args.kubeconfig}", flush=True)
        stop.wait()
    return 0
