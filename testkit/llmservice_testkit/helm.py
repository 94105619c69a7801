"""Helm v4, built from its Go module, for the chart's tests.

The chart under ``charts/llmservice-operator/`` is rendered, linted, packaged and installed
by Helm itself, not by our reading of its template rules: ``tools/helm/`` is a Go module
that pins ``helm.sh/helm/v4`` (and through it every module Helm builds with) and names its
``cmd/helm`` as a tool, so ``go build`` makes the same program as Helm's own release build.

The program is built once per machine into
``~/.cache/llmservice-operator/helm/<helm version>-<digest>/helm`` (``XDG_CACHE_HOME``
honoured), the digest covering the module's files, so a fresh clone reuses it and a change
of the module builds anew; a file lock keeps two test processes from building at once.
Without Go, :class:`BuildUnavailable` says why and the tests skip. ``LLMSERVICE_HELM_BIN``
names a prebuilt Helm instead (no Go needed).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from llmservice_testkit.cluster.build import (
    BuildFailed,
    BuildUnavailable,
    cache_base,
    record_build,
)

__all__ = ["BuildFailed", "BuildUnavailable", "ensure", "main", "run"]

MODULE_FILES = ("go.mod", "go.sum")
MODULE_VARIABLE = "LLMSERVICE_HELM_MODULE"
BINARY_VARIABLE = "LLMSERVICE_HELM_BIN"
NAME = "helm"
PACKAGE = "helm.sh/helm/v4/cmd/helm"
VERSION_VARIABLE = "helm.sh/helm/v4/internal/version"


def module_dir() -> Path:
    """The Go module: ``tools/helm/`` at the repository's root, or the folder
    ``LLMSERVICE_HELM_MODULE`` names."""
    named = os.environ.get(MODULE_VARIABLE)
    if named:
        return Path(named)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "tools" / "helm" / "go.mod"
        if candidate.is_file():
            return candidate.parent
    raise BuildUnavailable(
        "the Helm Go module (tools/helm/go.mod) was not found beside the test kit; "
        f"set {MODULE_VARIABLE} to its folder"
    )


def version_of(module: Path) -> str:
    """The pinned ``helm.sh/helm/v4`` version, read from go.mod."""
    text = (module / "go.mod").read_text(encoding="utf-8")
    found = re.search(r"^\s*(?:require\s+)?helm\.sh/helm/v4\s+(v\S+)", text, re.M)
    if found is None:
        raise BuildFailed(f"{module / 'go.mod'} does not require helm.sh/helm/v4")
    return found.group(1)


def cache_dir(module: Path) -> Path:
    digest = hashlib.sha256()
    for name in MODULE_FILES:
        path = module / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.exists() else b"")
    return cache_base() / NAME / f"{version_of(module)}-{digest.hexdigest()[:12]}"


def ensure() -> Path:
    """The Helm program, built first where missing."""
    prebuilt = os.environ.get(BINARY_VARIABLE)
    if prebuilt:
        if not Path(prebuilt).is_file():
            raise BuildUnavailable(f"{BINARY_VARIABLE}={prebuilt} is not a file")
        return Path(prebuilt)
    module = module_dir()
    folder = cache_dir(module)
    binary = folder / NAME
    if binary.is_file():
        return binary
    go = shutil.which("go")
    if go is None:
        raise BuildUnavailable(
            "Go is not installed: Helm is built from tools/helm (Go 1.26 and the Go module "
            f"proxy), or set {BINARY_VARIABLE} to a Helm v4 program"
        )
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it right now
        if not binary.is_file():
            _build(go, module, binary)
    return binary


def _build(go: str, module: Path, binary: Path) -> None:
    """``go build`` as Helm's Makefile builds a release (trimmed, its version stamped),
    into a scratch name moved in place after, so an interrupted build never leaves a
    half-written program that looks complete. Unlike Helm's release, cgo is left as the
    control plane's build (``cluster.build``) has it: the Kubernetes packages both use, at
    the same version, then come from Go's build cache instead of being compiled again
    (about 3.5 minutes instead of 7 on 2 cores)."""
    scratch = binary.with_name(binary.name + ".partial")
    version = version_of(module)
    ldflags = f"-s -w -X {VERSION_VARIABLE}.version={version} -X {VERSION_VARIABLE}.metadata="
    command = [go, "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(scratch), PACKAGE]
    print(f"building Helm {version} from {module} (3 to 7 minutes the first time)", flush=True)
    started = time.monotonic()
    env = {**os.environ, "GOFLAGS": os.environ.get("GOFLAGS", "") + " -mod=readonly"}
    done = subprocess.run(command, cwd=module, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        scratch.unlink(missing_ok=True)
        raise BuildFailed(f"go build failed ({' '.join(command)}):\n{done.stderr[-4000:]}")
    scratch.replace(binary)
    record_build(binary.parent / "build.json", [NAME], time.monotonic() - started)


def run(
    *args: str,
    check: bool = True,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``helm ARGS`` with its own config, cache and data folders under the cache (never the
    user's repositories or plugins); fails with Helm's stderr when ``check``."""
    home = cache_base() / NAME / "home"
    isolated = {
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    command = [str(ensure()), *args]
    done = subprocess.run(
        command,
        env={**os.environ, **isolated, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done


def main(argv: list[str] | None = None) -> int:
    """``python -m llmservice_testkit.helm``: build before the tests, so no test waits
    through a first build; without Go, say why and succeed (those tests skip).
    ``python -m llmservice_testkit.helm ARGS``: build where needed, then run ``helm ARGS``
    (``make chart`` lints and packages this way)."""
    args = sys.argv[1:] if argv is None else argv
    started = time.monotonic()
    try:
        binary = ensure()
    except BuildUnavailable as exc:
        if args:
            print(f"Helm is not built: {exc}", file=sys.stderr, flush=True)
            return 1
        print(f"Helm is not built: {exc}; the chart's tests will skip", flush=True)
        return 0
    except BuildFailed as exc:
        print(exc, file=sys.stderr, flush=True)
        return 1
    if args:
        done = run(*args, check=False)
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        return done.returncode
    print(f"Helm in {binary} ({time.monotonic() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
