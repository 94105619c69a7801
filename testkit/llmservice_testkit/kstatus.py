"""kstatus, the library Flux and cli-utils compute health with, as a program the tests run.

What Flux, ``kubectl``-based tools and cli-utils report for an LLMService is decided by
``status.Compute`` of ``sigs.k8s.io/cli-utils/pkg/kstatus``, not by our reading of its
rules: ``tools/kstatus/`` is a small Go module around it, pinned to one cli-utils release,
and the tests feed it the status the operator computes.

The program is built once per machine into
``~/.cache/llmservice-operator/kstatus/<cli-utils version>-<digest>/kstatus``
(``XDG_CACHE_HOME`` honoured), the digest covering the module's files, so a fresh clone
reuses it and a change of the module builds anew; a file lock keeps two test processes
from building at once. Without Go, :class:`BuildUnavailable` says why and the tests skip.
``LLMSERVICE_KSTATUS_BIN`` names a prebuilt program instead (no Go needed).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmservice_testkit.cluster.build import (
    BuildFailed,
    BuildUnavailable,
    cache_base,
    record_build,
)

__all__ = ["BuildFailed", "BuildUnavailable", "Verdict", "compute", "ensure", "main"]

MODULE_FILES = ("go.mod", "go.sum", "main.go")
MODULE_VARIABLE = "LLMSERVICE_KSTATUS_MODULE"
BINARY_VARIABLE = "LLMSERVICE_KSTATUS_BIN"
NAME = "kstatus"


@dataclass(frozen=True)
class Verdict:
    """What kstatus says about one object: Current, InProgress, Failed, Terminating or
    Unknown, and its message."""

    status: str
    message: str


def module_dir() -> Path:
    """The Go module: ``tools/kstatus/`` at the repository's root, or the folder
    ``LLMSERVICE_KSTATUS_MODULE`` names."""
    named = os.environ.get(MODULE_VARIABLE)
    if named:
        return Path(named)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "tools" / "kstatus" / "go.mod"
        if candidate.is_file():
            return candidate.parent
    raise BuildUnavailable(
        "the kstatus Go module (tools/kstatus/go.mod) was not found beside the test kit; "
        f"set {MODULE_VARIABLE} to its folder"
    )


def version_of(module: Path) -> str:
    """The pinned ``sigs.k8s.io/cli-utils`` version, read from go.mod."""
    text = (module / "go.mod").read_text(encoding="utf-8")
    found = re.search(r"^\s*(?:require\s+)?sigs\.k8s\.io/cli-utils\s+(v\S+)", text, re.M)
    if found is None:
        raise BuildFailed(f"{module / 'go.mod'} does not require sigs.k8s.io/cli-utils")
    return found.group(1)


def cache_dir(module: Path) -> Path:
    digest = hashlib.sha256()
    for name in MODULE_FILES:
        path = module / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.exists() else b"")
    return cache_base() / NAME / f"{version_of(module)}-{digest.hexdigest()[:12]}"


def ensure() -> Path:
    """The kstatus program, built first where missing."""
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
            "Go is not installed: the kstatus program is built from tools/kstatus "
            f"(Go 1.26 and the Go module proxy), or set {BINARY_VARIABLE}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it right now
        if not binary.is_file():
            _build(go, module, binary)
    return binary


def _build(go: str, module: Path, binary: Path) -> None:
    """``go build`` into a scratch name, then move it in place, so an interrupted build
    never leaves a half-written program that looks complete."""
    scratch = binary.with_name(binary.name + ".partial")
    command = [go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(scratch), "."]
    print(f"building {NAME} from {module} (a first build takes about a minute)", flush=True)
    started = time.monotonic()
    env = {**os.environ, "GOFLAGS": os.environ.get("GOFLAGS", "") + " -mod=readonly"}
    done = subprocess.run(command, cwd=module, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        scratch.unlink(missing_ok=True)
        raise BuildFailed(f"go build failed ({' '.join(command)}):\n{done.stderr[-4000:]}")
    scratch.replace(binary)
    record_build(binary.parent / "build.json", [NAME], time.monotonic() - started)


def compute(objects: Iterable[Mapping[str, Any]]) -> list[Verdict]:
    """kstatus's verdict on each object, in order (one run of the program for all)."""
    items = list(objects)
    if not items:
        return []
    done = subprocess.run(
        [str(ensure())],
        input="".join(json.dumps(o) + "\n" for o in items),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"kstatus exited {done.returncode}: {done.stderr.strip()}")
    verdicts: list[Verdict] = []
    for line in done.stdout.splitlines():
        answer = json.loads(line)
        if answer.get("error"):
            raise ValueError(f"kstatus cannot read the object: {answer['error']}")
        verdicts.append(Verdict(answer["status"], answer.get("message", "")))
    if len(verdicts) != len(items):
        raise RuntimeError(f"kstatus answered {len(verdicts)} times for {len(items)} objects")
    return verdicts


def main(argv: list[str] | None = None) -> int:
    """``python -m llmservice_testkit.kstatus``: build before the tests, so no test waits
    through a first build; without Go, say why and succeed (those tests skip)."""
    del argv
    started = time.monotonic()
    try:
        binary = ensure()
    except BuildUnavailable as exc:
        print(f"the kstatus program is not built: {exc}; its tests will skip", flush=True)
        return 0
    except BuildFailed as exc:
        print(exc, file=sys.stderr, flush=True)
        return 1
    print(f"kstatus in {binary} ({time.monotonic() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
