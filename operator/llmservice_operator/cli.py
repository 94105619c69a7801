"""The ``llmservice-operator`` command: run | crd | render | report | loadtest.

``run`` is the operator (:mod:`.runtime`), ``crd`` prints the contract (:mod:`.api`), the rest
are tools for users (:mod:`.tools`). Each subcommand imports its module only when chosen, so
``render`` and ``crd`` stay fast and work without kopf's start-up cost or a kubeconfig.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmservice-operator",
        description="Run Ollama-based LLM chat services on Kubernetes.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser(
        "run",
        help="run the operator against the current kube context",
        description="Run the operator. Settings come from the environment (see README).",
    )

    sub.add_parser(
        "crd",
        help="print the LLMService CustomResourceDefinition generated from the models",
    )

    render = sub.add_parser(
        "render",
        help="print the Kubernetes objects an LLMService becomes, offline",
        description=(
            "Print the children (Deployment, Service, HorizontalPodAutoscaler, ...) that "
            "the operator would create for each LLMService in FILE, for review and diffs. "
            "Needs no cluster."
        ),
    )
    render.add_argument(
        "-f", "--filename", required=True, help="LLMService YAML file, or - for stdin"
    )
    render.add_argument("-o", "--output", choices=["yaml", "json"], default="yaml")
    render.add_argument(
        "-n", "--namespace", default=None, help="namespace for objects that do not set one"
    )
    render.add_argument(
        "--kubernetes-version",
        default=None,
        metavar="MAJOR.MINOR",
        help=(
            "check the children against this Kubernetes version's schema only (default: "
            "every supported version, 1.29 to the newest known)"
        ),
    )

    from llmservice_operator.tools import loadtest, report  # light: heavy imports are lazy

    loadtest.add_arguments(
        sub.add_parser(
            "loadtest",
            help="simulated users chatting with a service, then latency and throughput figures",
            description=(
                "Concurrent simulated users chat through the backend's OpenAI-compatible or "
                "Ollama API while /healthz is checked; prints requests, failures by cause, "
                "latency percentiles, time to first token and tokens per second."
            ),
        )
    )
    report.add_arguments(
        sub.add_parser(
            "report",
            help="pods, containers, restarts, autoscaling and conditions of an LLMService",
            description="Read an LLMService and its children from the cluster and report them.",
        )
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "run":
        from llmservice_operator.runtime import main as operator_main

        return operator_main.main()
    if args.command == "crd":
        from llmservice_operator.api import crd

        sys.stdout.write(crd.crd_yaml())
        return 0
    if args.command == "render":
        from llmservice_operator.tools.render import command as render

        return render.main(args.filename, args.output, args.namespace, args.kubernetes_version)
    if args.command == "loadtest":
        from llmservice_operator.tools import loadtest

        return loadtest.main(args)
    if args.command == "report":
        from llmservice_operator.tools import report

        return report.main(args)
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees this


if __name__ == "__main__":
    raise SystemExit(main())
