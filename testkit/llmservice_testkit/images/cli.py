"""``python -m llmservice_testkit images [NAME ...]``: build the real node's images (once per
machine) and print each reference with its archive."""

from __future__ import annotations

import argparse
import sys
import time

HELP = (
    "build the real node's container images without a Docker engine or a registry (base "
    "from Debian's packages, the operator and backend from their Dockerfiles, the Ollama "
    "stand-in, pause), cached per machine; print each reference and its docker-archive"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from llmservice_testkit.images.build import NODE_IMAGES, REFS

    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"images to build: {', '.join(REFS)} (default: {' '.join(NODE_IMAGES)})",
    )
    parser.add_argument(
        "--skip-unavailable",
        action="store_true",
        help="when a tool is missing (buildah, mmdebstrap, Go, root), say why and exit 0",
    )


def run(args: argparse.Namespace) -> int:
    from llmservice_testkit.images.build import NODE_IMAGES, BuildFailed, BuildUnavailable, ensure

    started = time.monotonic()
    try:
        images = ensure(args.names or NODE_IMAGES)
    except BuildUnavailable as exc:
        print(f"the images are not built: {exc}", file=sys.stderr, flush=True)
        return 0 if args.skip_unavailable else 1
    except (BuildFailed, ValueError) as exc:
        print(exc, file=sys.stderr, flush=True)
        return 1
    for image in images.values():
        how = f"built in {image.seconds:.0f} s" if image.seconds else "cached"
        print(f"{image.ref}\t{image.archive}\t{image.size / 1e6:.0f} MB\t{how}")
    print(f"{len(images)} image(s) in {time.monotonic() - started:.0f} s", flush=True)
    return 0
