"""``python -m llmservice_testkit.cluster --kubeconfig FILE``: the same as the test kit's
``cluster`` command."""

from __future__ import annotations

import argparse
import sys

from llmservice_testkit.cluster import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmservice_testkit")
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["cluster", *(sys.argv[1:] if argv is None else argv)])
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
