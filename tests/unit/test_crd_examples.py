"""Every example is accepted by the CRD's OpenAPI schema and by its CEL rules after the API
server's defaulting (``validate_llmservice``'s acceptance is tested in
test_examples_validate.py), and the API server's defaulting gives the spec the operator
computes."""

from __future__ import annotations

from typing import Any

import pytest
import support
from llmservice_operator.tools.render.validation import validate_llmservice

DOCUMENTS = list(support.example_documents())


def test_there_are_examples_to_check() -> None:
    """Guards the tests below: an empty examples/ must not pass silently."""
    assert len(support.EXAMPLES) >= 5
    assert len(DOCUMENTS) >= len(support.EXAMPLES)


@pytest.mark.parametrize(("name", "document"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_example_passes_the_crd_schema(name: str, document: dict[str, Any]) -> None:
    assert support.crd_schema_errors(document) == []


@pytest.mark.parametrize(("name", "document"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_example_passes_the_crd_cel_rules(name: str, document: dict[str, Any]) -> None:
    assert support.crd_cel_errors(document) == []


@pytest.mark.parametrize(("name", "document"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_api_server_defaults_match_the_models(name: str, document: dict[str, Any]) -> None:
    stored = support.api_server_defaults(document)
    assert stored["spec"] == validate_llmservice(document).to_api()["spec"]
