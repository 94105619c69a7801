"""The container images of the real node, built here without a Docker engine or a registry.

``ensure_images()`` returns, for each image the node loads into containerd, its reference
and a docker-archive for ``ctr -n k8s.io images import`` (built once per machine, cached);
``build.py`` says how, ``README.md`` what it measured. ``ollama_standin.py`` is the program
of the Ollama stand-in image the tests use in place of ``ollama/ollama``.
"""

from __future__ import annotations

from llmservice_testkit.images.build import (
    BACKEND,
    BASE,
    NODE_IMAGES,
    OLLAMA_STANDIN,
    OPERATOR,
    PAUSE,
    REFS,
    BuildFailed,
    BuildUnavailable,
    Image,
    ensure,
    ensure_images,
    pause_binary,
)

__all__ = [
    "BACKEND",
    "BASE",
    "NODE_IMAGES",
    "OLLAMA_STANDIN",
    "OPERATOR",
    "PAUSE",
    "REFS",
    "BuildFailed",
    "BuildUnavailable",
    "Image",
    "ensure",
    "ensure_images",
    "pause_binary",
]
