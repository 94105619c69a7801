"""The Gateway API's own CRDs, for the tests that check our HTTPRoutes against them.

``sigs.k8s.io/gateway-api`` ships its CRDs in its Go module (``config/crd/standard/``), and
the Go module proxy serves it, so they are fetched once per machine with
``go mod download -json sigs.k8s.io/gateway-api@<VERSION>`` and copied into
``~/.cache/llmservice-operator/gateway-api/<VERSION>/`` (``XDG_CACHE_HOME`` honoured). The
tests only read that folder: nothing is downloaded while they run. Without Go or the
proxy, :class:`BuildUnavailable` says why and those tests skip.

``python -m llmservice_testkit.gatewayapi`` fetches them (``make gateway-api-crds``).
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import yaml

from llmservice_testkit.cluster.build import BuildFailed, BuildUnavailable, cache_base

__all__ = ["VERSION", "BuildFailed", "BuildUnavailable", "crd", "crds", "ensure", "folder"]

MODULE: Final = "sigs.k8s.io/gateway-api"
VERSION: Final = "v1.6.3"
CHANNEL: Final = "standard"


def folder() -> Path:
    return cache_base() / "gateway-api" / VERSION


def _files() -> list[Path]:
    return sorted(folder().glob("gateway.networking.k8s.io_*.yaml"))


def ensure() -> Path:
    """The folder holding the standard channel's CRDs, fetched once if need be."""
    target = folder()
    if _files():
        return target
    go = shutil.which("go")
    if go is None:
        raise BuildUnavailable(
            f"Go is not installed: the Gateway API CRDs come from the {MODULE}@{VERSION} Go "
            "module (go mod download through the Go module proxy)"
        )
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _files():
            return target
        with tempfile.TemporaryDirectory() as work:
            done = subprocess.run(
                [go, "mod", "download", "-json", f"{MODULE}@{VERSION}"],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        try:
            info = json.loads(done.stdout or "{}")
        except ValueError:
            info = {}
        if done.returncode != 0 or not info.get("Dir"):
            reason = info.get("Error") or done.stderr.strip() or f"exit {done.returncode}"
            raise BuildUnavailable(f"go mod download {MODULE}@{VERSION} failed: {reason}")
        source = Path(info["Dir"]) / "config" / "crd" / CHANNEL
        found = sorted(source.glob("gateway.networking.k8s.io_*.yaml"))
        if not found:
            raise BuildFailed(f"{source} holds no CRDs: has the module's layout changed?")
        for path in found:
            shutil.copyfile(path, target / path.name)
    return target


def crds() -> Iterator[dict[str, Any]]:
    """Every CRD of the standard channel (already fetched: call :func:`ensure` first)."""
    for path in _files():
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                yield document


def crd(plural: str) -> dict[str, Any]:
    """One CRD by its plural (``httproutes``)."""
    for document in crds():
        if document["spec"]["names"]["plural"] == plural:
            return document
    raise KeyError(f"no Gateway API CRD for {plural} in {folder()}")


def schema(plural: str, version: str = "v1") -> dict[str, Any]:
    """The openAPIV3Schema of one served version of a Gateway API kind."""
    for served in crd(plural)["spec"]["versions"]:
        if served["name"] == version:
            return dict(served["schema"]["openAPIV3Schema"])
    raise KeyError(f"{plural} has no version {version}")


def main() -> int:
    try:
        path = ensure()
    except BuildUnavailable as exc:
        print(f"Gateway API CRDs: not fetched ({exc}); the tests that need them skip")
        return 0
    print(f"Gateway API CRDs {VERSION}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
