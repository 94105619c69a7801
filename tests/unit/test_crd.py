"""The generated CustomResourceDefinition: up to date, valid, structural, documented."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import support
import yaml
from llmservice_operator import cli
from llmservice_operator.api import crd, rules
from llmservice_operator.api.models import LLMService
from llmservice_operator.tools.render.cel import check_schema_rules

CRD_FILE = support.CRD_FILE


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return crd.crd_manifest()


@pytest.fixture(scope="module")
def schema(manifest: dict[str, Any]) -> dict[str, Any]:
    [version] = manifest["spec"]["versions"]
    return dict(version["schema"]["openAPIV3Schema"])


def walk(node: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every schema node with its path (``[*]`` for list items and map values)."""
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from walk(child, f"{path}.{name}" if path else name)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), Mapping):
            yield from walk(node[key], f"{path}[*]")


def test_committed_crd_is_the_generated_one() -> None:
    assert CRD_FILE.read_text() == crd.crd_yaml(), (
        f"{CRD_FILE.relative_to(support.ROOT)} is stale: run `make crd` and commit it"
    )


def test_committed_crd_parses_to_the_manifest(manifest: dict[str, Any]) -> None:
    assert yaml.safe_load(CRD_FILE.read_text()) == manifest


def test_the_crd_command_prints_the_crd(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["crd"]) == 0
    assert capsys.readouterr().out == crd.crd_yaml()


@pytest.mark.parametrize("version", support.KUBERNETES_VERSIONS)
def test_crd_is_a_valid_custom_resource_definition(manifest: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(manifest, version, strict=True)


def test_strict_validation_would_catch_a_misspelt_schema_keyword(
    manifest: dict[str, Any],
) -> None:
    """The check above can fail: a keyword the API does not know is rejected."""
    broken = crd.crd_manifest()
    broken["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["defualt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, support.KUBERNETES_VERSIONS[-1], strict=True)


def test_names_scope_and_subresources(manifest: dict[str, Any]) -> None:
    spec = manifest["spec"]
    assert manifest["metadata"]["name"] == "llmservices.llmservice.dev"
    assert spec["group"] == "llmservice.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "LLMService"
    assert spec["names"]["plural"] == "llmservices"
    assert spec["names"]["shortNames"] == ["llms"]
    assert "all" in spec["names"]["categories"]
    [version] = spec["versions"]
    assert version["name"] == "v1alpha1"
    assert version["served"]
    assert version["storage"]
    assert version["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }


def node_at(schema: Mapping[str, Any], json_path: str) -> Mapping[str, Any]:
    node = schema
    for part in json_path.strip(".").split("."):
        node = node["properties"][part]
    return node


def test_scale_paths_exist_with_the_right_types(schema: dict[str, Any]) -> None:
    assert node_at(schema, ".spec.replicas")["type"] == "integer"
    assert node_at(schema, ".status.replicas")["type"] == "integer"
    assert node_at(schema, ".status.selector")["type"] == "string"


def test_printer_columns(manifest: dict[str, Any], schema: dict[str, Any]) -> None:
    columns = manifest["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [(c["name"].upper(), c["jsonPath"], c.get("priority", 0)) for c in columns] == [
        ("MODEL", ".spec.model.name", 0),
        ("READY", ".status.ready", 0),
        ("DESIRED", ".status.desiredReplicas", 0),
        ("MIN", ".status.autoscaling.minReplicas", 0),
        ("MAX", ".status.autoscaling.maxReplicas", 0),
        ("PHASE", ".status.phase", 0),
        ("AGE", ".metadata.creationTimestamp", 0),
        ("MODELS", ".status.model.summary", 1),
        ("SCALING", ".status.autoscaling.state", 1),
        ("ENDPOINT", ".status.endpoint", 1),
    ]
    for column in columns:
        if column["jsonPath"].startswith(".metadata"):
            continue
        node = node_at(schema, column["jsonPath"])
        assert node["type"] == column["type"], column["name"]


def test_every_field_has_a_description(schema: dict[str, Any]) -> None:
    # metadata may carry no description: kubectl explain shows ObjectMeta's own
    missing = [
        path
        for path, node in walk(schema)
        if path != "metadata"
        and not path.endswith("[*]")
        and not (node.get("description") or "").strip()
    ]
    assert missing == []


def test_metadata_only_restricts_the_name(schema: dict[str, Any]) -> None:
    """The API server refuses any other keyword on metadata (not even a description)."""
    metadata = schema["properties"]["metadata"]
    assert set(metadata) == {"type", "properties"}
    assert set(metadata["properties"]) == {"name", "generateName"}
    assert "default" not in metadata["properties"]["name"]
    assert metadata["properties"]["name"]["maxLength"] == 63


def test_rules_never_stringify_a_quantity(schema: dict[str, Any]) -> None:
    """The API server cannot bound the size of string() of an int-or-string value, so a rule
    doing so gets an unbounded cost estimate and the CRD is refused; quantity() on the value
    itself is bounded (by the request size)."""
    nodes = dict(walk(schema))
    quantity_fields = {
        path.rsplit(".", 1)[-1].replace("[*]", "")
        for path, node in nodes.items()
        if node.get("x-kubernetes-int-or-string")
    }
    # maxUnavailable and minAvailable are a PodDisruptionBudget's int-or-percent values.
    assert quantity_fields == {
        "size",
        "requests",
        "limits",
        "divisor",
        "maxUnavailable",
        "minAvailable",
    }
    for rule in rules.RULES:
        for text in filter(None, (rule.rule, rule.message_expression)):
            for field in quantity_fields:
                assert not re.search(rf"string\(self\.{field}\b", text), (rule.name, text)


FORBIDDEN_KEYWORDS = {"$ref", "$defs", "definitions", "anyOf", "oneOf", "allOf", "not", "title"}
FORBIDDEN_KEYWORDS |= {"const", "examples", "discriminator", "readOnly", "writeOnly"}


def test_schema_is_structural(schema: dict[str, Any]) -> None:
    problems = []
    for path, node in walk(schema):
        where = path or "<root>"
        if FORBIDDEN_KEYWORDS & node.keys():
            problems.append(f"{where}: {sorted(FORBIDDEN_KEYWORDS & node.keys())}")
        if "additionalProperties" in node and not isinstance(node["additionalProperties"], dict):
            problems.append(f"{where}: additionalProperties must be a schema")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{where}: both properties and additionalProperties")
        if node.get("x-kubernetes-int-or-string"):
            if "type" in node:
                problems.append(f"{where}: int-or-string with a type")
        elif "type" not in node:
            problems.append(f"{where}: no type")
        if node.get("nullable") and node.get("default") is None:
            problems.append(f"{where}: nullable without a default to override")
        if node.get("type") == "array" and "items" not in node:
            problems.append(f"{where}: array without items")
    assert problems == []


def test_quantities_are_int_or_string_with_the_quantity_pattern(schema: dict[str, Any]) -> None:
    quantities = {
        path
        for path, node in walk(schema)
        if node.get("x-kubernetes-int-or-string") and "podDisruptionBudget" not in path
    }
    assert quantities == {
        "spec.model.storage.size",
        "spec.backend.resources.requests[*]",
        "spec.backend.resources.limits[*]",
        "spec.ollama.resources.requests[*]",
        "spec.ollama.resources.limits[*]",
        "spec.backend.env[*].valueFrom.resourceFieldRef.divisor",
        "spec.ollama.env[*].valueFrom.resourceFieldRef.divisor",
    }
    for path in quantities:
        node = dict(walk(schema))[path]
        assert re.match(node["pattern"], "500m")
        assert not re.match(node["pattern"], "2Gb")
        # No quantity here may be negative, in either form; a volume size must be above 0.
        assert not re.match(node["pattern"], "-1")
        assert node["minimum"] == (1 if path.endswith("size") else 0)
        assert bool(re.match(node["pattern"], "0")) == (not path.endswith("size"))


def test_nothing_is_passed_through_unchecked(schema: dict[str, Any]) -> None:
    """Tolerations, affinity and environment sources are typed in full: an unknown field in
    them is refused at apply, not when the Deployment is written."""
    preserved = {
        path for path, node in walk(schema) if node.get("x-kubernetes-preserve-unknown-fields")
    }
    assert preserved == set()


def test_defaults_enums_and_bounds_are_carried_over(schema: dict[str, Any]) -> None:
    autoscaling = node_at(schema, "spec.autoscaling")["properties"]
    assert autoscaling["minReplicas"] == {
        "description": "Fewest pods the autoscaler keeps.",
        "type": "integer",
        "default": 2,
        "minimum": 1,
        "maximum": 1000,
    }
    assert autoscaling["targetCPUUtilizationPercentage"]["default"] == 70
    assert autoscaling["targetCPUUtilizationPercentage"]["nullable"] is True
    service = node_at(schema, "spec.service")["properties"]
    assert service["type"]["enum"] == ["ClusterIP", "NodePort", "LoadBalancer"]
    assert (service["nodePort"]["minimum"], service["nodePort"]["maximum"]) == (30000, 32767)
    assert "nullable" not in service["nodePort"]  # no default: absent and null are the same
    assert node_at(schema, "spec.model.name")["default"] == "tinyllama"
    assert node_at(schema, "spec.backend.resources")["default"]["requests"] == {
        "cpu": "100m",
        "memory": "128Mi",
    }


def test_api_server_defaulting_equals_the_models_defaults(schema: dict[str, Any]) -> None:
    """What the API server stores for a bare LLMService is what the operator reads."""
    bare = support.llmservice(name="x", namespace=None)
    del bare["spec"]
    defaulted = support.api_server_defaults(bare)
    assert defaulted["spec"] == LLMService.model_validate(bare).to_api()["spec"]


def test_defaults_are_valid_under_their_own_schema(schema: dict[str, Any]) -> None:
    for path, node in walk(schema):
        if "default" in node:
            validator = jsonschema.Draft7Validator(crd.to_json_schema(node, _root=False))
            errors = [e.message for e in validator.iter_errors(node["default"])]
            assert errors == [], path


def test_every_rule_sits_at_its_node(schema: dict[str, Any]) -> None:
    nodes = dict(walk(schema))
    for rule in rules.RULES:
        node = nodes[rule.node]
        assert rule.validation() in node["x-kubernetes-validations"], rule.name
    attached = sum(len(node.get("x-kubernetes-validations", [])) for node in nodes.values())
    assert attached == len(rules.RULES)


def test_every_rule_names_a_field_in_its_message(schema: dict[str, Any]) -> None:
    for rule in rules.RULES:
        assert re.search(r"\b(spec|metadata)\.[a-zA-Z]", rule.message), rule.name
        if rule.message_expression is not None:
            assert re.search(r"\b(spec|metadata)\.[a-zA-Z]", rule.message_expression), rule.name


def test_every_rule_field_path_exists(schema: dict[str, Any]) -> None:
    nodes = dict(walk(schema))
    for rule in rules.RULES:
        if rule.field_path is not None:
            assert rule.path in nodes, rule.name


def test_every_rule_and_message_expression_compiles(schema: dict[str, Any]) -> None:
    assert check_schema_rules(schema) == []


ITERATION = re.compile(r"self((?:\.\w+)*)\.(?:all|exists|exists_one|filter|map)\(")


def test_rules_only_iterate_over_bounded_collections(schema: dict[str, Any]) -> None:
    """The API server refuses rules whose estimated cost is unbounded."""
    nodes = dict(walk(schema))
    for rule in rules.RULES:
        for text in filter(None, (rule.rule, rule.message_expression)):
            for match in ITERATION.finditer(text):
                target = nodes[rule.node]
                for part in filter(None, match.group(1).split(".")):
                    target = target["properties"][part]
                assert "maxItems" in target or "maxProperties" in target, (rule.name, text)


def test_fields_switched_off_by_null_say_so(schema: dict[str, Any]) -> None:
    """Omitting a defaulted field gives its default; only an explicit null switches it off,
    so the description must say null, never "unset"."""
    nullable = {path: node for path, node in walk(schema) if node.get("nullable")}
    assert set(nullable) >= {
        "spec.autoscaling.targetCPUUtilizationPercentage",
        "spec.autoscaling.targetMemoryUtilizationPercentage",
        "spec.model.storage.size",
    }
    for path, node in nullable.items():
        description = node["description"]
        assert "null" in description, path
        assert "unset" not in description.lower(), path
