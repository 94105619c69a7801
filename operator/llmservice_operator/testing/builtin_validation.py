"""Built-in kinds checked against the upstream OpenAPI schemas (``kubernetes-validate``, strict).

A validator per kind is built once: the schema definitions file is large and rebuilding it
on every request would dominate the server's time.
"""

from __future__ import annotations

import functools
import re
from typing import Any

# Kinds validated strictly; any other built-in kind is stored as sent.
VALIDATED_KINDS = frozenset(
    {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "Pod",
        "PersistentVolumeClaim",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
    }
)
SCHEMA_VERSION = "1.37.0"


@functools.cache
def _validator(kind: str, api_version: str) -> Any:
    import jsonschema  # type: ignore[import-untyped]
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"kubernetes-json-schema/v{SCHEMA_VERSION}-local-strict"
    try:
        schema = utils.schema_contents(
            f"{folder}/{kind.lower()}-{group_version}.json", SCHEMA_VERSION
        )
    except FileNotFoundError:
        return None
    definitions = utils.schema_contents(f"{folder}/_definitions.json", SCHEMA_VERSION)
    registry: Any = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def _path(error: Any) -> str:
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def validate(obj: dict[str, Any]) -> list[tuple[str, str]]:
    kind = str(obj.get("kind", ""))
    if kind not in VALIDATED_KINDS:
        return []
    validator = _validator(kind, str(obj.get("apiVersion", "")))
    if validator is None:
        return []
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    return [(_path(e), f"Invalid value: {e.message}") for e in errors[:10]]
