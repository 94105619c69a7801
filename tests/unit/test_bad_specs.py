"""The table of bad LLMServices (badspecs.py), offline: ``render`` refuses each naming the
field, the CRD's checks (schema, strict fields, CEL rules, as the API server runs them)
refuse exactly those the table says are refused at apply, and the operator's reading of a
stored spec reports the rest as InvalidSpec naming the field. The same table runs against
a real API server and the operator in tests/cluster/test_real_bad_specs.py."""

from __future__ import annotations

import io
from typing import Any

import pytest
import support
from badspecs import APPLY, CASES, INVALID_SPEC, BadSpec
from llmservice_operator.api.models import DNS1035_LABEL_PATTERN
from llmservice_operator.api.validation import as_api_numbers
from llmservice_operator.runtime.desired import DesiredStates
from llmservice_operator.tools import useryaml
from llmservice_operator.tools.render import command as render


def ids(case: BadSpec) -> str:
    return case.id


def stored(case: BadSpec) -> Any:
    """The case as the API server would read the JSON kubectl sends it."""
    return as_api_numbers(useryaml.load(case.document()))


def names(field: str, path: str) -> bool:
    """Whether an error at ``path`` names ``field`` (or a field inside it, or its parent
    object for an unknown field, which JSON Schema reports there)."""
    return path == field or field.startswith((f"{path}.", f"{path}[")) or path.startswith(field)


def test_the_table_is_large_and_covers_both_outcomes() -> None:
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)
    assert sum(case.outcome == INVALID_SPEC for case in CASES) >= 5
    for case in CASES:
        # each case is an object of its own in one namespace: its id is its name
        assert support.re.fullmatch(DNS1035_LABEL_PATTERN, case.id), case.id
        assert len(case.id) <= 63


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_render_refuses_it_naming_the_field(case: BadSpec) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = render.main(
        "-", "yaml", None, stdin=io.StringIO(case.document()), stdout=out, stderr=err
    )
    if case.needs is not None:
        # It depends on what the cluster holds, which render cannot see.
        assert (code, err.getvalue()) == (render.EXIT_OK, "")
        return
    assert code == render.EXIT_INVALID, out.getvalue()[:200]
    assert out.getvalue() == ""
    lines = err.getvalue().splitlines()
    assert [line for line in lines if case.field in line and case.fragment in line], lines


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_the_crd_refuses_exactly_the_cases_refused_at_apply(case: BadSpec) -> None:
    document = stored(case)
    schema_paths = support.crd_schema_errors(document)
    cel_errors = support.crd_cel_errors(document) if not schema_paths else []
    refused = bool(schema_paths or cel_errors)
    assert refused == (case.outcome == APPLY), (schema_paths, cel_errors)
    if refused:
        paths = schema_paths or [error.path for error in cel_errors]
        assert any(names(case.field, path) for path in paths), paths
        if cel_errors and case.fragment:
            assert any(case.fragment in error.message for error in cel_errors), cel_errors


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.outcome == INVALID_SPEC and c.needs is None], ids=ids
)
def test_the_operator_reports_the_stored_ones_invalid_naming_the_field(case: BadSpec) -> None:
    body = stored(case)
    body["metadata"].update(namespace="default", uid="u-1", generation=1)
    desired = DesiredStates().of(("default", case.id), body)
    assert desired.service is None
    assert desired.children == []  # nothing is written
    assert desired.invalid is not None
    assert case.field in desired.invalid
    assert case.fragment in desired.invalid
