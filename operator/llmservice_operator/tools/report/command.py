"""The ``report`` subcommand: options in; the report on stdout; problems on stderr."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from llmservice_operator.api import naming
from llmservice_operator.runtime.kubeconfig import KubeconfigError, connect
from llmservice_operator.tools.report.cluster import (
    ReportError,
    fetch,
    probe,
    service_proxy_port,
)
from llmservice_operator.tools.report.data import ProbeResult, Report, build_report
from llmservice_operator.tools.report.text import render_text

DEFAULT_PROBE_SAMPLES = 5
MAX_PROBE_SAMPLES = 100
EXIT_OK, EXIT_PROBLEM = 0, 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the LLMService")
    parser.add_argument(
        "-n", "--namespace", default=None, help="its namespace (default: the context's)"
    )
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: as kubectl)")
    parser.add_argument("--context", default=None, help="kubeconfig context to use")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--probe",
        action="store_true",
        help="time /healthz through the API server's service proxy",
    )
    parser.add_argument(
        "--probe-samples",
        type=int,
        default=DEFAULT_PROBE_SAMPLES,
        help=f"health checks the probe sends (1 to {MAX_PROBE_SAMPLES})",
    )


def make_report(api: Any, name: str, namespace: str, *, with_probe: bool, samples: int) -> Report:
    fetched = fetch(api, name, namespace)
    report = build_report(fetched, datetime.now(UTC))
    if with_probe:
        port = service_proxy_port(fetched.service)
        if port is None:
            result = ProbeResult(samples, 0, None, None, ("no Service port to probe",))
        else:
            result = probe(api, namespace, naming.service_name(name), port, samples)
        report = replace(report, probe=result)
    return report


def main(args: argparse.Namespace) -> int:
    """Print the report; exit 1 when the LLMService or one of its children is missing, or
    when a probed health check failed."""
    prog = "llmservice-operator report"
    if not 1 <= args.probe_samples <= MAX_PROBE_SAMPLES:
        sys.stderr.write(
            f"{prog}: --probe-samples: must be between 1 and {MAX_PROBE_SAMPLES},"
            f" not {args.probe_samples}\n"
        )
        return 2
    if args.kubeconfig and not os.path.exists(args.kubeconfig):
        sys.stderr.write(f"{prog}: --kubeconfig: {args.kubeconfig} does not exist\n")
        return EXIT_PROBLEM
    try:
        cluster = connect(args.kubeconfig, args.context)
        namespace = args.namespace or cluster.namespace
        try:
            report = make_report(
                cluster.api_client,
                args.name,
                namespace,
                with_probe=args.probe,
                samples=args.probe_samples,
            )
        finally:
            cluster.api_client.close()  # type: ignore[no-untyped-call]
    except (KubeconfigError, ReportError) as exc:
        sys.stderr.write(f"{prog}: {exc}\n")
        return EXIT_PROBLEM
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(report))
    code = EXIT_OK
    if report.missing:
        sys.stderr.write(
            f"{prog}: missing: {', '.join(report.missing)}"
            " (is the operator running and watching this namespace?)\n"
        )
        code = EXIT_PROBLEM
    if report.probe is not None and report.probe.failures:
        p = report.probe
        sys.stderr.write(f"{prog}: {len(p.failures)} of {p.samples} health checks failed\n")
        code = EXIT_PROBLEM
    return code
