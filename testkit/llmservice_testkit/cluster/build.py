"""Build the Kubernetes components from the repository's Go module, once per machine.

The binaries are kept under ``~/.cache/llmservice-operator/kubernetes/<release>-<digest>/``
(``XDG_CACHE_HOME`` is honoured), where the digest covers the Go module's files: a fresh
clone on the same machine reuses them, and a change of release or of the module builds
anew. A file lock keeps two test processes from building at once; the second waits and
then finds the binaries.

``LLMSERVICE_KUBE_BIN_DIR`` names a folder of prebuilt binaries instead (no Go needed).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# What a running control plane needs, and what a real node adds (kubelet, kube-proxy).
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
NODE = ("kubelet", "kube-proxy")

# The Go package of each binary; etcd's command is the module's own small main package.
PACKAGES = {
    "etcd": "./cmd/etcd",
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "kubelet": "k8s.io/kubernetes/cmd/kubelet",
    "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
}
MODULE_FILES = ("go.mod", "go.sum", "tools.go", "cmd/etcd/main.go")
BIN_DIR_VARIABLE = "LLMSERVICE_KUBE_BIN_DIR"
MODULE_VARIABLE = "LLMSERVICE_CLUSTER_MODULE"


class BuildUnavailable(RuntimeError):
    """The binaries are missing and cannot be built here (no Go, no module): a reason to skip."""


class BuildFailed(RuntimeError):
    """``go build`` ran and failed: a real error, never a reason to skip."""


@dataclass(frozen=True)
class Binaries:
    folder: Path
    release: str

    def path(self, name: str) -> Path:
        return self.folder / name


def module_dir() -> Path:
    """The Go module: ``cluster/`` at the repository's root, or ``LLMSERVICE_CLUSTER_MODULE``."""
    named = os.environ.get(MODULE_VARIABLE)
    if named:
        return Path(named)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "cluster" / "go.mod"
        if candidate.is_file():
            return candidate.parent
    raise BuildUnavailable(
        "the Go module that builds Kubernetes (cluster/go.mod) was not found beside the test "
        f"kit; set {MODULE_VARIABLE} to its folder"
    )


def release_of(module: Path) -> str:
    """The pinned ``k8s.io/kubernetes`` version, read from go.mod."""
    found = re.search(
        r"^\s*(?:require\s+)?k8s\.io/kubernetes\s+(v\S+)", _read(module / "go.mod"), re.M
    )
    if found is None:
        raise BuildFailed(f"{module / 'go.mod'} does not require k8s.io/kubernetes")
    return found.group(1)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def cache_base() -> Path:
    """``~/.cache/llmservice-operator`` (``XDG_CACHE_HOME`` honoured): every tool the tests
    build from Go is kept under it, one folder per tool, so a fresh clone reuses them all."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llmservice-operator"


def cache_root() -> Path:
    return cache_base() / "kubernetes"


def cache_dir(module: Path) -> Path:
    digest = hashlib.sha256()
    for name in MODULE_FILES:
        path = module / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.exists() else b"")
    return cache_root() / f"{release_of(module)}-{digest.hexdigest()[:12]}"


def ensure(names: Iterable[str] = CONTROL_PLANE) -> Binaries:
    """The folder holding ``names``, built first where missing."""
    wanted = tuple(names)
    prebuilt = os.environ.get(BIN_DIR_VARIABLE)
    if prebuilt:
        folder = Path(prebuilt)
        missing = [n for n in wanted if not (folder / n).is_file()]
        if missing:
            raise BuildUnavailable(f"{BIN_DIR_VARIABLE}={folder} lacks {', '.join(missing)}")
        return Binaries(folder, "prebuilt")
    module = module_dir()
    folder = cache_dir(module) / "bin"
    release = release_of(module)
    if all((folder / n).is_file() for n in wanted):
        return Binaries(folder, release)
    go = shutil.which("go")
    if go is None:
        raise BuildUnavailable(
            "Go is not installed: the real control plane is built from the k8s.io/kubernetes Go "
            f"module (Go 1.26 and the Go module proxy), or set {BIN_DIR_VARIABLE}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    with (folder.parent / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same release
        missing = [n for n in wanted if not (folder / n).is_file()]
        if missing:
            _build(go, module, folder, missing)
    return Binaries(folder, release)


def _build(go: str, module: Path, folder: Path, names: list[str]) -> None:
    """``go build`` the missing binaries into a scratch folder, then move them in place, so
    an interrupted build never leaves a half-written binary that looks complete."""
    scratch = folder.parent / "partial"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    command = [
        go,
        "build",
        "-trimpath",
        "-ldflags=-s -w",
        "-o",
        str(scratch) + "/",
        *(PACKAGES[n] for n in names),
    ]
    print(f"building {', '.join(names)} from {module} (a first build takes minutes)", flush=True)
    started = time.monotonic()
    env = {**os.environ, "GOFLAGS": os.environ.get("GOFLAGS", "") + " -mod=readonly"}
    done = subprocess.run(command, cwd=module, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildFailed(f"go build failed ({' '.join(command)}):\n{done.stderr[-4000:]}")
    for name in names:
        (scratch / name).replace(folder / name)
    shutil.rmtree(scratch, ignore_errors=True)
    record_build(folder.parent / "build.json", names, time.monotonic() - started)


def record_build(path: Path, names: list[str], seconds: float) -> None:
    """Keep how long each build took beside the binaries (the READMEs quote a cold build)."""
    log = json.loads(path.read_text()) if path.exists() else []
    log.append({"binaries": names, "seconds": round(seconds, 1), "at": time.time()})
    path.write_text(json.dumps(log, indent=1))


def main(argv: list[str] | None = None) -> int:
    """``python -m llmservice_testkit.cluster.build [--node]``: build before the tests, so no
    test waits through a first build; without Go, say why and succeed (those tests skip)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    names = CONTROL_PLANE + (NODE if "--node" in args else ())
    started = time.monotonic()
    try:
        binaries = ensure(names)
    except BuildUnavailable as exc:
        print(f"the real control plane is not built: {exc}; its tests will skip", flush=True)
        return 0
    except BuildFailed as exc:
        print(exc, file=sys.stderr, flush=True)
        return 1
    took = time.monotonic() - started
    print(f"Kubernetes {binaries.release} binaries in {binaries.folder} ({took:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
