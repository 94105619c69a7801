"""docs/api.md: generated from the CRD, complete, and never stale."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from llmservice_operator.api.crd import crd_manifest
from llmservice_operator.tools import apidoc

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "api.md"
CRD_FILE = ROOT / "crds" / "llmservices.llmservice.dev.yaml"


def schema_of(crd: Mapping[str, Any]) -> Mapping[str, Any]:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def test_docs_api_md_is_up_to_date() -> None:
    assert DOC.read_text() == apidoc.render(crd_manifest()), (
        "docs/api.md is stale: run `make api-docs`"
    )


def test_the_committed_crd_gives_the_same_reference() -> None:
    assert apidoc.render(yaml.safe_load(CRD_FILE.read_text())) == DOC.read_text()


def field_paths(node: Mapping[str, Any], path: str) -> Iterator[str]:
    """Every property path of a schema, walked independently of apidoc."""
    for name, child in (node.get("properties") or {}).items():
        sub = f"{path}.{name}"
        yield sub
        yield from field_paths(child, sub)
    items = node.get("items")
    if isinstance(items, Mapping):
        yield from field_paths(items, f"{path}[]")
    values = node.get("additionalProperties")
    if isinstance(values, Mapping):
        yield from field_paths(values, f"{path}.<key>")


def rules_of(node: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(node, Mapping):
        yield from node.get("x-kubernetes-validations") or ()
        for value in node.values():
            yield from rules_of(value)
    elif isinstance(node, list):
        for value in node:
            yield from rules_of(value)


def test_every_field_and_every_rule_is_documented() -> None:
    schema = schema_of(crd_manifest())
    text = DOC.read_text()
    paths = [
        p.lstrip(".")
        for section in ("metadata", "spec", "status")
        for p in field_paths(schema["properties"][section], section)
    ]
    assert len(paths) > 80
    missing = [p for p in paths if f"| `{p}` |" not in text]
    assert not missing
    rules = list(rules_of(schema))
    assert len(rules) > 10
    for rule in rules:
        message = " ".join(rule["message"].split()).replace("|", "\\|")
        message = message.replace("<", "&lt;").replace(">", "&gt;")
        assert message in text, rule["message"]


def test_defaults_bounds_enums_and_descriptions_reach_the_table() -> None:
    text = DOC.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `spec.replicas` |"))
    assert row.split(" | ")[1:4] == ["integer", "`2`", "0 to 1000"]
    assert "(also set by `kubectl scale`)" in row
    row = next(line for line in text.splitlines() if line.startswith("| `spec.service.type` |"))
    assert "one of `ClusterIP`, `NodePort`, `LoadBalancer`" in row
    row = next(
        line for line in text.splitlines() if line.startswith("| `spec.autoscaling.minReplicas`")
    )
    assert "must not exceed" not in row  # rules are listed below, against the field
    rules = text.split("## Validation rules (CEL)")[1]
    (rule,) = [r for r in rules.splitlines() if r.startswith("| `spec.autoscaling.minReplicas` |")]
    assert "| `spec.autoscaling` |" in rule
    assert "`self.minReplicas <= self.maxReplicas`" in rule


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"type": "string"}, "string"),
        ({"x-kubernetes-int-or-string": True}, "integer or string"),
        ({"x-kubernetes-int-or-string": True, "pattern": "^[0-9]+([KMGTPE]i)?$"}, "quantity"),
        ({"type": "array", "items": {"type": "object"}}, "[]object"),
        ({"type": "object", "additionalProperties": {"type": "string"}}, "map[string]string"),
        ({"type": "object", "x-kubernetes-preserve-unknown-fields": True}, "object (free-form)"),
        ({}, "any"),
    ],
)
def test_type_names(node: dict[str, Any], expected: str) -> None:
    assert apidoc.type_of(node) == expected


def test_constraints_read_as_phrases() -> None:
    node = {
        "enum": ["A", "B"],
        "minimum": 1,
        "minLength": 1,
        "maxItems": 3,
        "maxProperties": 1,
        "pattern": "^a|b$",
        "nullable": True,
    }
    assert apidoc.constraints_of(node, 2) == (
        "one of `A`, `B`",
        "at least 1",
        "at least 1 character",
        "at most 3 items",
        "at most 1 entry",
        "pattern `^a|b$`",
        "may be null",
        "2 CEL rules (below)",
    )
    assert apidoc.constraints_of({"maximum": 5}, 0) == ("at most 5",)


def test_table_cells_escape_pipes() -> None:
    crd = {
        "spec": {
            "group": "example.dev",
            "names": {"kind": "Thing", "plural": "things"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "x-kubernetes-validations": [
                                        {"rule": "self.a || self.b", "message": "a or <b>"}
                                    ],
                                    "properties": {"a": {"type": "boolean", "default": False}},
                                }
                            },
                        }
                    },
                }
            ],
        }
    }
    text = apidoc.render(crd)
    assert "| `spec.a` | boolean | `false` |  |  |" in text
    assert "`self.a \\|\\| self.b`" in text
    assert "| a or &lt;b&gt; |" in text  # outside code, not an HTML tag
    assert "## Status" not in text


def test_cli_reads_a_crd_file_and_names_an_unreadable_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert apidoc.main(["--crd", str(CRD_FILE)]) == 0
    assert capsys.readouterr().out == DOC.read_text()
    missing = tmp_path / "nope.yaml"
    assert apidoc.main(["--crd", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
