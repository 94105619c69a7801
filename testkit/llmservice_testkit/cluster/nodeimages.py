"""The real node's images beside :mod:`llmservice_testkit.images` (which builds the pause
image it uses, and the operator's): a busybox image for the node's own tests, from
Debian's busybox-static, and reading an archive's image references. No registry can be
pulled from, so the busybox image is made here, an archive ``ctr images import`` reads,
kept once per machine under ``~/.cache/llmservice-operator/node-images/``, named by a
digest of the binary, so a changed one makes a new image.

buildah assembles it from scratch with its storage in a throwaway folder (the vfs driver:
no mounts, nothing left in the system's container storage).
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from llmservice_testkit.cluster import build
from llmservice_testkit.cluster.host import NodeUnavailable

REPOSITORY = "localhost/llmservice-testkit"
BUSYBOX = Path("/bin/busybox")


@dataclass(frozen=True)
class ImageArchive:
    """An image archive and the reference it brings into the runtime."""

    path: Path
    ref: str


def cache_root() -> Path:
    return build.cache_root().parent / "node-images"


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:12]


@contextmanager
def _locked() -> Iterator[Path]:
    folder = cache_root()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test process may be building the same
        yield folder


def _buildah(storage: Path, *args: str) -> str:
    command = [
        "buildah",
        "--root",
        str(storage / "root"),
        "--runroot",
        str(storage / "run"),
        "--storage-driver",
        "vfs",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def _from_scratch(
    target: Path, ref: str, rootfs: Path, entrypoint: list[str], cmd: list[str], user: str
) -> ImageArchive:
    """A one-layer image of ``rootfs`` written as a docker-archive to ``target``."""
    if shutil.which("buildah") is None:
        raise NodeUnavailable("buildah is not installed (apt-get install buildah)")
    import json

    with tempfile.TemporaryDirectory(prefix="llmservice-buildah-") as storage_dir:
        storage = Path(storage_dir)
        try:
            container = _buildah(storage, "from", "scratch")
            _buildah(storage, "copy", container, f"{rootfs}/.", "/")
            _buildah(
                storage,
                "config",
                "--entrypoint",
                json.dumps(entrypoint),
                "--cmd",
                json.dumps(cmd) if cmd else "",
                "--user",
                user,
                "--env",
                "PATH=/bin",
                container,
            )
            _buildah(storage, "commit", "--quiet", container, ref)
            partial = target.with_suffix(".partial")
            partial.unlink(missing_ok=True)
            _buildah(storage, "push", "--quiet", ref, f"docker-archive:{partial}:{ref}")
            partial.replace(target)
        finally:
            # vfs storage holds no mounts; the folder goes with the temporary directory.
            subprocess.run(
                ["buildah", "--root", str(storage / "root"), "--runroot", str(storage / "run"),
                 "--storage-driver", "vfs", "rm", "--all"],
                capture_output=True, check=False,
            )  # fmt: skip
    return ImageArchive(target, ref)


def pause() -> ImageArchive:
    """The pause image (``cluster/cmd/pause``) as :mod:`llmservice_testkit.images` builds
    and caches it with the node's other images."""
    from llmservice_testkit import images

    try:
        built = images.ensure(["pause"])["pause"]
    except images.BuildUnavailable as exc:
        raise NodeUnavailable(f"the pause image cannot be built here: {exc}") from exc
    return ImageArchive(built.archive, built.ref)


def busybox() -> ImageArchive:
    """A busybox image (sh, httpd, wget, sleep, ...) from Debian's busybox-static, for the
    node's own tests; runs as root unless the pod says otherwise."""
    if not BUSYBOX.is_file():
        raise NodeUnavailable(f"{BUSYBOX} is missing (apt-get install busybox-static)")
    binary = BUSYBOX.read_bytes()
    tag = _digest(binary)
    ref = f"{REPOSITORY}/busybox:{tag}"
    with _locked() as folder:
        target = folder / f"busybox-{tag}.tar"
        if target.is_file():
            return ImageArchive(target, ref)
        applets = subprocess.run(
            [str(BUSYBOX), "--list"], capture_output=True, text=True, check=True
        ).stdout.split()
        with tempfile.TemporaryDirectory(prefix="llmservice-busybox-") as scratch:
            rootfs = Path(scratch) / "rootfs"
            (rootfs / "bin").mkdir(parents=True)
            (rootfs / "tmp").mkdir(mode=0o1777)
            (rootfs / "www").mkdir()
            shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
            for applet in applets:
                if applet != "busybox":
                    (rootfs / "bin" / applet).symlink_to("busybox")
            return _from_scratch(target, ref, rootfs, [], ["sh"], "0:0")


def archive_refs(path: Path) -> list[str]:
    """The references an image archive names: a docker-archive's ``RepoTags``, or an OCI
    archive's ``io.containerd.image.name`` / ``org.opencontainers.image.ref.name``
    annotations (what ``ctr images import`` will call the images)."""
    import json
    import tarfile

    with tarfile.open(path) as archive:
        names = archive.getnames()
        if "manifest.json" in names:
            member = archive.extractfile("manifest.json")
            assert member is not None
            return [tag for entry in json.load(member) for tag in entry.get("RepoTags") or []]
        if "index.json" in names:
            member = archive.extractfile("index.json")
            assert member is not None
            refs = []
            for manifest in json.load(member).get("manifests", []):
                notes = manifest.get("annotations", {})
                ref = notes.get("io.containerd.image.name") or notes.get(
                    "org.opencontainers.image.ref.name"
                )
                if ref:
                    refs.append(ref)
            return refs
    return []


def from_archive(path: Path) -> ImageArchive:
    """An archive holding one image, with the reference it names (a pause image built
    elsewhere, say)."""
    refs = archive_refs(path)
    if len(refs) != 1:
        raise ValueError(f"{path} names {len(refs)} images ({refs}); one was expected")
    return ImageArchive(path, refs[0])
