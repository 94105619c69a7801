"""The ``loadtest`` subcommand: options in; results on stdout; progress and errors on stderr."""

from __future__ import annotations

import argparse
import asyncio
import sys

from llmservice_operator.tools.loadtest.config import config_from_args
from llmservice_operator.tools.loadtest.output import render_json, render_text
from llmservice_operator.tools.loadtest.records import UsageError
from llmservice_operator.tools.loadtest.runner import run_until_interrupted
from llmservice_operator.tools.loadtest.stats import Summary

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def exit_code(summary: Summary) -> int:
    if summary.interrupted:
        return EXIT_INTERRUPTED
    if summary.chats_failed or summary.health_failed:
        return EXIT_FAILURES
    return EXIT_OK


def main(args: argparse.Namespace) -> int:
    """The ``loadtest`` subcommand: results on stdout, progress and errors on stderr."""
    try:
        config = config_from_args(args)
    except UsageError as exc:
        sys.stderr.write(f"llmservice-operator loadtest: {exc}\n")
        return EXIT_USAGE
    progress = sys.stderr if (args.progress or sys.stderr.isatty()) else None
    summary = asyncio.run(run_until_interrupted(config, progress))
    if args.json:
        sys.stdout.write(render_json(summary))
    else:
        sys.stdout.write(render_text(summary))
    sys.stdout.flush()
    return exit_code(summary)
