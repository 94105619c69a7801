"""What the unit tests share, defined once: paths, the Kubernetes versions we support,
LLMService documents, and the CRD's checks as the API server runs them offline.

Imported as a module (``import support``): pytest puts this directory on ``sys.path``.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import jsonschema
import pytest
from llmservice_operator.api import crd
from llmservice_operator.api.models import GROUP_VERSION, KIND
from llmservice_operator.api.validation import FieldError, as_api_numbers
from llmservice_operator.tools import useryaml
from llmservice_operator.tools.render.cel import evaluate_validations
from llmservice_testkit import gatewayapi
from llmservice_testkit.emulator import schemas as emulated

ROOT: Final = Path(__file__).resolve().parents[2]
EXAMPLES_DIR: Final = ROOT / "examples"
EXAMPLES: Final = sorted(EXAMPLES_DIR.glob("*.yaml"))
GOLDEN_DIR: Final = ROOT / "tests" / "golden"
CRD_FILE: Final = ROOT / "crds" / "llmservices.llmservice.dev.yaml"

# The oldest Kubernetes we support (native sidecars are on by default from 1.29) and the
# newest schemas kubernetes-validate ships; the README names both.
KUBERNETES_VERSIONS: Final = ("1.29.0", "1.37.0")


def llmservice(
    spec: dict[str, Any] | None = None,
    *,
    name: str = "chat",
    namespace: str | None = "default",
    **metadata: Any,
) -> dict[str, Any]:
    """An LLMService document as a user writes it (``spec`` as given, deep-copied)."""
    meta: dict[str, Any] = {"name": name, **metadata}
    if namespace is not None:
        meta["namespace"] = namespace
    return {
        "apiVersion": GROUP_VERSION,
        "kind": KIND,
        "metadata": meta,
        "spec": copy.deepcopy(spec) if spec is not None else {},
    }


def put(node: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``value`` at ``path`` inside ``node`` (in place), replacing whatever on the way is
    not a mapping, so a generated test can plant a value anywhere in a spec."""
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = value


def example_documents() -> Iterator[tuple[str, Any]]:
    """``(file#index, document)`` for every document of every example, read as kubectl does."""
    for path in EXAMPLES:
        for index, document in enumerate(useryaml.load_all(path.read_text())):
            if document is not None:
                yield f"{path.stem}#{index}", document


def load_example(path: Path) -> dict[str, Any]:
    """The single document of an example file."""
    (document,) = [d for d in useryaml.load_all(path.read_text()) if d is not None]
    assert isinstance(document, dict)
    return document


# --------------------------------------------------------------------------------------
# the CRD, as the API server checks an object against it

SCHEMA: Final = crd.openapi_schema()


def _go_pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    """``pattern`` with Go's regexp semantics: ``$`` ends the text. Python's ``re`` lets it
    match before a final newline, which would accept ``"abc\\n"`` where the API server and
    pydantic do not."""
    if not validator.is_type(instance, "string"):
        return
    go_like = pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern
    if re.search(go_like, instance) is None:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def _json_integer(checker: Any, instance: Any) -> bool:
    """An integer as the API server reads JSON: never a float (``as_api_numbers`` has made
    whole floats within 64 bits integers already); JSON Schema would take ``1e100``."""
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator = jsonschema.validators.extend(
    jsonschema.Draft7Validator,
    {"pattern": _go_pattern},
    type_checker=jsonschema.Draft7Validator.TYPE_CHECKER.redefine("integer", _json_integer),
)
JSON_SCHEMA: Final = _Validator(crd.to_json_schema(SCHEMA))


def _yaml_path(parts: Any) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def api_server_defaults(document: Any) -> Any:
    """What the API server stores of ``document`` with our CRD: its nulls pruned and its
    defaults filled in from the CRD's schema (the local API server's defaulting, on a copy),
    to hold the models' own defaults against."""
    return emulated.apply_defaults(SCHEMA, copy.deepcopy(document))


def crd_schema_errors(document: Any) -> list[str]:
    """Paths the CRD's OpenAPI schema rejects after the API server's defaulting (strict:
    unknown fields are errors, as with ``kubectl apply --validate=strict``)."""
    defaulted = api_server_defaults(as_api_numbers(document))
    return [_yaml_path(error.absolute_path) for error in JSON_SCHEMA.iter_errors(defaulted)]


def crd_cel_errors(document: Any) -> list[FieldError]:
    """What the CRD's CEL rules say about the object after defaulting."""
    return evaluate_validations(SCHEMA, api_server_defaults(as_api_numbers(document)))


def crd_accepts(document: Any) -> bool:
    """Whether the API server, with this CRD installed, would store ``document``."""
    return not crd_schema_errors(document) and not crd_cel_errors(document)


@functools.cache
def _gateway_schema(version: str) -> tuple[dict[str, Any], Any]:
    """The HTTPRoute CRD's schema and its strict validator, read once (a large file)."""
    schema = gatewayapi.schema("httproutes", version)
    return schema, _Validator(crd.to_json_schema(schema))


def foreign_kind_errors(manifest: dict[str, Any]) -> list[str]:
    """What the CRD of a kind Kubernetes does not define says about ``manifest``: the
    Gateway API's own CRD for an HTTPRoute (its schema, strict, after its defaults, and its
    CEL rules), when fetched once per machine (``make gateway-api-crds``); nothing to check
    against for a PodMonitor (the Prometheus Operator's CRDs cannot be had here; the
    operator's tests register a stand-in)."""
    if manifest["kind"] != "HTTPRoute":
        return []
    try:
        schema, validator = _gateway_schema(manifest["apiVersion"].split("/")[1])
    except (KeyError, OSError):
        pytest.skip(
            f"the Gateway API CRDs are not fetched: make gateway-api-crds ({gatewayapi.folder()})"
        )
    defaulted = emulated.apply_defaults(schema, copy.deepcopy(manifest))
    errors = [
        f"HTTPRoute: {_yaml_path(e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(defaulted)
    ]
    errors += [f"HTTPRoute: {e}" for e in evaluate_validations(schema, defaulted)]
    return errors
