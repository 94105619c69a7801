"""Golden files: ``render`` output for every example, byte for byte.

A change to a builder shows up here as a diff of the rendered manifests, which is what a
reviewer needs to see. Regenerate with ``make golden`` (``pytest --update-golden``) and
review the diff of ``tests/golden/`` before committing it.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import support
from llmservice_operator.tools.render import command as render

GOLDEN = support.GOLDEN_DIR
CASES = [(path, fmt) for path in support.EXAMPLES for fmt in ("yaml",)] + [
    (support.EXAMPLES_DIR / "tinyllama.yaml", "json")
]


def rendered(path: Path, output: str) -> str:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = render.main(str(path), output, None, stdout=stdout, stderr=stderr)
    assert (code, stderr.getvalue()) == (0, "")
    return stdout.getvalue()


@pytest.mark.parametrize(("path", "output"), CASES, ids=lambda c: getattr(c, "stem", c))
def test_render_matches_golden(path: Path, output: str, request: pytest.FixtureRequest) -> None:
    golden = GOLDEN / f"{path.stem}.{output}"
    actual = rendered(path, output)
    if request.config.getoption("--update-golden"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual)
    assert golden.exists(), f"{golden} is missing: run `make golden` and review it"
    assert actual == golden.read_text(), (
        f"render of {path.name} changed; if intended run `make golden` and review the diff"
    )


def test_every_golden_file_has_an_example() -> None:
    # A removed or renamed example must not leave a stale golden file behind.
    expected = {f"{path.stem}.{output}" for path, output in CASES}
    assert {p.name for p in GOLDEN.iterdir()} == expected
