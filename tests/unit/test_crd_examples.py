"""Every example is accepted three ways: by ``validate_llmservice`` (render, the operator), by
the CRD's OpenAPI schema, and by the CRD's CEL rules after the API server's defaulting; and
the API server's defaulting gives the spec the operator computes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from llmservice_operator import crd
from llmservice_operator.celrules import evaluate_validations
from llmservice_operator.validation import validate_llmservice

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
SCHEMA = crd.openapi_schema()
JSON_SCHEMA = jsonschema.Draft7Validator(crd.to_json_schema(SCHEMA))


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in EXAMPLES:
        for index, document in enumerate(yaml.safe_load_all(path.read_text())):
            if document is not None:
                found.append((f"{path.stem}#{index}", document))
    return found


DOCUMENTS = documents()


def test_there_are_examples_to_check() -> None:
    """Guards the tests below: an empty examples/ must not pass silently."""
    assert len(EXAMPLES) >= 5
    assert len(DOCUMENTS) >= len(EXAMPLES)


@pytest.mark.parametrize(("name", "document"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_example_passes_validate_llmservice(name: str, document: dict[str, Any]) -> None:
    service = validate_llmservice(document)
    assert service.metadata.name == document["metadata"]["name"]


@pytest.mark.parametrize(("name", "document"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_example_passes_the_crd_schema(name: str, document: dict[str, Any]) -> None:
    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in JSON_SCHEMA.iter_errors(document)
    ]
    assert errors == []


@pytest.mark.parametrize(("name", "document"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_example_passes_the_crd_cel_rules(name: str, document: dict[str, Any]) -> None:
    assert evaluate_validations(SCHEMA, crd.apply_defaults(SCHEMA, document)) == []


@pytest.mark.parametrize(("name", "document"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_api_server_defaults_match_the_models(name: str, document: dict[str, Any]) -> None:
    stored = crd.apply_defaults(SCHEMA, document)
    assert stored["spec"] == validate_llmservice(document).to_api()["spec"]
