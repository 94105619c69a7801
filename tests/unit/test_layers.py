"""The layers of the operator package, as its folders show them, and what each may import.

api/ (the contract), builders/ and core/ (pure decisions) import nothing of the runtime, the
tools or the test kit; the runtime imports no tool; the tools reach the cluster through the
runtime's kubeconfig loader only; the operator package never imports the test kit (it is
not in the operator's image).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import support

PACKAGE = support.ROOT / "operator" / "llmservice_operator"

ALLOWED: dict[str, set[str]] = {
    "api": {"api"},
    "builders": {"api", "builders"},
    "core": {"api", "core"},
    "runtime": {"api", "builders", "core", "runtime"},
    "tools": {"api", "builders", "core", "tools", "runtime.kubeconfig"},
}


def imports(path: Path) -> set[str]:
    """The modules ``path`` imports, absolute, anywhere in it (lazy imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def allowed(layer: str, module: str) -> bool:
    """Whether ``layer`` may import ``module`` (relative to the package). A package on the
    way to an allowed module is fine: ``from llmservice_operator.runtime import kubeconfig``
    names ``runtime`` as well as ``runtime.kubeconfig``."""
    return any(
        module == ok or module.startswith(f"{ok}.") or ok.startswith(f"{module}.")
        for ok in ALLOWED[layer]
    )


def layer_files() -> list[tuple[str, Path]]:
    return [(layer, path) for layer in ALLOWED for path in sorted((PACKAGE / layer).rglob("*.py"))]


@pytest.mark.parametrize(
    ("layer", "path"), layer_files(), ids=[str(p.relative_to(PACKAGE)) for _, p in layer_files()]
)
def test_a_layer_imports_only_what_it_may(layer: str, path: Path) -> None:
    ours = "llmservice_operator."
    wrong = [
        module
        for module in imports(path)
        if module.startswith("llmservice_testkit")
        or (module.startswith(ours) and not allowed(layer, module.removeprefix(ours)))
    ]
    assert wrong == [], f"{layer}/ must not import {sorted(wrong)}"


def test_the_layers_are_the_folders_and_only_the_command_line_sits_beside_them() -> None:
    beside = sorted(p.name for p in PACKAGE.iterdir() if p.suffix == ".py")
    assert beside == ["__init__.py", "__main__.py", "cli.py"]
    folders = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert folders == sorted(ALLOWED)
