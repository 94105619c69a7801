"""``python -m llmservice_testkit.cluster --kubeconfig FILE``: the test kit's ``cluster``
command under its own module name."""

from __future__ import annotations

import argparse
import sys

from llmservice_testkit.cluster import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llmservice_testkit.cluster", description=cli.HELP
    )
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
