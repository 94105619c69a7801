"""``python -m llmservice_testkit COMMAND``: the test kit's commands.

Each command is a module with ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``; :data:`COMMANDS` names them, and a new command is one more entry.
Modules are imported when the parser is built, so each keeps its heavy imports inside
``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# command -> module
COMMANDS: dict[str, str] = {
    "serve": "llmservice_testkit.emulator.serve",
    "playground": "llmservice_testkit.playground",
    "cluster": "llmservice_testkit.cluster.cli",
    "images": "llmservice_testkit.images.cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m llmservice_testkit",
        description="The test kit of llmservice-operator.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
