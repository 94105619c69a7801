"""``python -m llmservice_operator.testing serve --port 0 --kubeconfig FILE``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from llmservice_operator.testing.runner import ServerThread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llmservice_operator.testing",
        description="A local Kubernetes API server for tests (not a cluster: no scheduler, "
        "no kubelet, no controllers besides garbage collection).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve on 127.0.0.1 until interrupted")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--kubeconfig", required=True, help="write a kubeconfig for it here")
    args = parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with ServerThread(port=args.port, kubeconfig_path=args.kubeconfig) as server:
        print(f"serving on {server.url}; kubeconfig: {args.kubeconfig}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
