"""Built-in kinds checked against the upstream OpenAPI schemas (``kubernetes-validate``, strict).

A validator per kind is built once: the schema definitions file is large and rebuilding it
on every request would dominate the server's time. An object is checked at its top level and
then property by property, and a property's verdict is memoized by its content: a status
write re-checks an unchanged spec, every pod of a Deployment carries the same spec.
"""

from __future__ import annotations

import functools
import pickle
import re
from dataclasses import dataclass
from typing import Any

from llmservice_operator.testing.lru import BoundedLRU

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


# Top-level keywords whose checks do not look inside the properties' values: with only
# these, an object's errors are the top level's plus each property's on its own.
_SPLITTABLE = frozenset(
    {"$id", "$schema", "description", "properties", "required", "type"}
    | {"additionalProperties", "x-kubernetes-group-version-kind"}
)


@dataclass(frozen=True)
class _Checker:
    full: Any  # the kind's validator
    top: Any | None  # the same with every property accepted as is; None: not splittable
    properties: dict[str, Any]  # property -> its subschema


@functools.cache
def _checker(kind: str, api_version: str) -> _Checker | None:
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
    full = jsonschema.validators.Draft202012Validator(schema, registry=registry)
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not set(schema) <= _SPLITTABLE:
        return _Checker(full, None, {})
    top_schema = {**schema, "properties": dict.fromkeys(properties, True)}
    top = jsonschema.validators.Draft202012Validator(top_schema, registry=registry)
    return _Checker(full, top, properties)


# One found error: (its path as a sort key, the path as shown, the message).
_Found = tuple[tuple[str, ...], str, str]

# (kind/apiVersion/property, pickled value) -> that property's errors. The same spec is
# checked again on every status write, the same pod template for every pod of a Deployment.
_MEMO: BoundedLRU[tuple[_Found, ...]] = BoundedLRU(max_entries=2048, max_key_bytes=16 << 20)


def _path(error: Any) -> str:
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _found(errors: Any) -> tuple[_Found, ...]:
    return tuple(
        (tuple(map(str, e.absolute_path)), _path(e), f"Invalid value: {e.message}") for e in errors
    )


def _property_errors(checker: _Checker, label: str, key: str, value: Any) -> tuple[_Found, ...]:
    def check() -> tuple[_Found, ...]:
        return _found(checker.full.descend(value, checker.properties[key], path=key))

    try:
        memo_key = (f"{label}/{key}", pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return check()
    found = _MEMO.get(memo_key)
    if found is None:
        found = check()
        _MEMO.put(memo_key, found)
    return found


def validate(obj: dict[str, Any]) -> list[tuple[str, str]]:
    kind = str(obj.get("kind", ""))
    if kind not in VALIDATED_KINDS:
        return []
    api_version = str(obj.get("apiVersion", ""))
    checker = _checker(kind, api_version)
    if checker is None:
        return []
    if checker.top is None or not isinstance(obj, dict):
        found = list(_found(checker.full.iter_errors(obj)))
    else:
        found = list(_found(checker.top.iter_errors(obj)))
        label = f"{kind}/{api_version}"
        for key, value in obj.items():
            if key in checker.properties:
                found.extend(_property_errors(checker, label, key, value))
    # Sorted by path (stable: errors at one path keep the validator's order), as before the
    # split; a path lies inside one property, so the order cannot differ from a whole check.
    found.sort(key=lambda f: f[0])
    return [(path, message) for _, path, message in found[:10]]
