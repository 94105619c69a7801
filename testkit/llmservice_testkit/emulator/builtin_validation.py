"""Built-in kinds checked against the upstream OpenAPI schemas (``kubernetes-validate``, strict).

The schemas are loaded once per kind: the definitions file is large and reading it on every
request would dominate the server's time. Checking is the costliest part of a write after
that, so it is done node by node with a memo:

- a schema node whose keywords only look at the node itself or at its properties / items
  one by one (``type``, ``required``, ``enum``, ``additionalProperties: false``, ...) is
  checked at its own level by jsonschema with ``properties``/``items`` accepting anything,
  and each property or item is then checked against its own subschema; a node that is only
  a ``$ref`` (plus annotations) is its target; anything else (``oneOf``, ...) is handed whole
  to jsonschema. The errors are the same as a whole-object check's, and sorted by path they
  come in the same order (all errors at one path come from one node, in keyword order);
- the errors of a sub-object are memoized by (schema node, pickled value): a status write
  re-checks an unchanged spec, every Deployment of the operator carries the same pod
  template spec, every pod of a Deployment the same containers.
"""

from __future__ import annotations

import functools
import gc
import itertools
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmservice_testkit.emulator.lru import BoundedLRU

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
        "PodDisruptionBudget",
    }
)
SCHEMA_VERSION = "1.37.0"

# Keywords that look into the value as a whole or into several parts at once: a node
# carrying one is checked by jsonschema in one piece.
_WHOLE = frozenset(
    {
        *("$ref", "$dynamicRef", "allOf", "anyOf", "oneOf", "not", "if", "then", "else"),
        *("patternProperties", "propertyNames", "dependentSchemas", "prefixItems"),
        *("contains", "unevaluatedProperties", "unevaluatedItems"),
    }
)
_DEFS = "#/$defs/"

# One error: its path (property names and list indexes) and its message.
_Error = tuple[tuple[str | int, ...], str]


@dataclass(eq=False)
class _Schemas:
    """One kind's schema with the shared definitions, and the validators made from them."""

    root: dict[str, Any]
    definitions: dict[str, Any]
    base: Any  # a validator resolving references from the definitions document
    # id(node) -> (node, its level-only validator or None when it is checked whole, its
    # full validator, its memo label); the node is held so its id stays its own.
    nodes: dict[int, tuple[Any, Any | None, Any, str]] = field(default_factory=dict)
    labels: itertools.count[int] = field(default_factory=itertools.count)

    def target(self, node: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """What a node made only of a ``$ref`` (and annotations) stands for."""
        ref = node.get("$ref")
        if not isinstance(ref, str) or _DEFS not in ref:
            return None
        if any(k != "$ref" and k != "description" and not k.startswith("x-") for k in node):
            return None
        prefix, name = ref.split(_DEFS, 1)
        if prefix not in ("", "/api/_definitions.json"):
            return None
        found = self.definitions["$defs"].get(name)
        return found if isinstance(found, Mapping) else None

    def validators(self, node: Mapping[str, Any]) -> tuple[Any | None, Any, str]:
        known = self.nodes.get(id(node))
        if known is not None and known[0] is node:
            return known[1], known[2], known[3]
        level = None
        if not _WHOLE & set(node):
            level_schema = dict(node)
            if isinstance(node.get("properties"), Mapping):
                level_schema["properties"] = dict.fromkeys(node["properties"], True)
            if isinstance(node.get("additionalProperties"), Mapping):
                level_schema["additionalProperties"] = True
            if isinstance(node.get("items"), Mapping):
                level_schema["items"] = True
            level = self.base.evolve(schema=level_schema)
        whole = self.base.evolve(schema=node)
        label = str(next(self.labels))
        self.nodes[id(node)] = (node, level, whole, label)
        return level, whole, label


@functools.cache
def _definitions() -> dict[str, Any]:
    """The shared definitions, loaded once for every kind.

    They are a few hundred thousand dicts and lists that live as long as the process.
    """
    from kubernetes_validate import utils

    folder = f"kubernetes-json-schema/v{SCHEMA_VERSION}-local-strict"
    definitions: dict[str, Any] = utils.schema_contents(
        f"{folder}/_definitions.json", SCHEMA_VERSION
    )
    return definitions


@functools.cache
def _schemas(kind: str, api_version: str) -> _Schemas | None:
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
    definitions = _definitions()
    registry: Any = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    base = jsonschema.validators.Draft202012Validator(definitions, registry=registry)
    # The schemas, registries and validators live as long as the process: a few hundred
    # thousand objects that every full collection of the cyclic garbage collector would
    # traverse again (a fifth of the server's time under load). Frozen out of it, with
    # whatever else is alive now (still freed by reference counting when dropped).
    gc.freeze()
    return _Schemas(schema, definitions, base)


# (schema node label, pickled value) -> the errors inside that value.
_MEMO: BoundedLRU[tuple[str, bytes], tuple[_Error, ...]] = BoundedLRU(
    max_entries=8192, max_key_bytes=32 << 20
)


def _errors(schemas: _Schemas, node: Mapping[str, Any], value: Any) -> tuple[_Error, ...]:
    """The errors of ``value`` against ``node``, paths relative to the value."""
    while (target := schemas.target(node)) is not None:
        node = target
    level, whole, label = schemas.validators(node)
    if level is None or not isinstance(value, (dict, list)):
        return tuple((tuple(e.absolute_path), e.message) for e in whole.iter_errors(value))
    try:
        key = (label, pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return _split(schemas, node, level, value)
    found = _MEMO.get(key)
    if found is None:
        found = _split(schemas, node, level, value)
        _MEMO.put(key, found, len(key[0]) + len(key[1]))
    return found


def _split(
    schemas: _Schemas, node: Mapping[str, Any], level: Any, value: dict[str, Any] | list[Any]
) -> tuple[_Error, ...]:
    found = [(tuple(e.absolute_path), e.message) for e in level.iter_errors(value)]
    if isinstance(value, dict):
        properties = node.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        additional = node.get("additionalProperties")
        for name, item in value.items():
            sub = properties.get(name)
            if sub is None and isinstance(additional, Mapping) and name not in properties:
                sub = additional
            if isinstance(sub, Mapping):
                found.extend(
                    ((name, *path), message) for path, message in _errors(schemas, sub, item)
                )
    elif isinstance(node.get("items"), Mapping):
        for index, item in enumerate(value):
            found.extend(
                ((index, *path), message) for path, message in _errors(schemas, node["items"], item)
            )
    return tuple(found)


def _path(parts: tuple[str | int, ...]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def validate(obj: dict[str, Any]) -> list[tuple[str, str]]:
    kind = str(obj.get("kind", ""))
    if kind not in VALIDATED_KINDS:
        return []
    schemas = _schemas(kind, str(obj.get("apiVersion", "")))
    if schemas is None:
        return []
    level, _, _ = schemas.validators(schemas.root)
    # The object as a whole always differs (resourceVersion, managedFields): not memoized.
    found = list(
        _split(schemas, schemas.root, level, obj)
        if level is not None
        else _errors(schemas, schemas.root, obj)
    )
    # Sorted by path, stable: errors at one path keep the validator's order.
    found.sort(key=lambda error: tuple(map(str, error[0])))
    return [(_path(path), f"Invalid value: {message}") for path, message in found[:10]]
