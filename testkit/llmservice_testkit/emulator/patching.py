"""JSON patch, JSON merge patch and strategic merge patch, as pure functions.

Strategic merge patch is simplified: lists merge by the patch-merge-key Kubernetes declares
for the fields our children use (containers, env, ports, volumes, volumeMounts, ...), any
other list is replaced whole, and the ``$patch: delete|replace`` directives are honoured.
``$retainKeys``, ``$setElementOrder`` and ``$deleteFromPrimitiveList`` are ignored.
"""

from __future__ import annotations

from typing import Any

import jsonpatch

from llmservice_testkit.emulator.clone import clone


class PatchTestFailed(Exception):
    """A JSON patch ``test`` operation did not match: a real server answers 422."""


class PatchInvalid(Exception):
    """A malformed patch: a real server answers 422 (or 400) naming the problem."""


def json_patch(obj: dict[str, Any], ops: Any) -> dict[str, Any]:
    if not isinstance(ops, list):
        raise PatchInvalid("a JSON patch must be a list of operations")
    try:
        result: dict[str, Any] = jsonpatch.apply_patch(obj, ops, in_place=False)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise PatchTestFailed(str(exc)) from exc
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise PatchInvalid(str(exc)) from exc
    return result


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: dicts merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# Field name -> merge key, for lists of objects under those names (any parent path).
# This mirrors the patchMergeKey markers of the upstream types we use.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}


def _ports_key(items: list[Any]) -> str:
    """Container ports merge by containerPort; Service ports by port."""
    for item in items:
        if isinstance(item, dict) and "containerPort" in item:
            return "containerPort"
    return "port"


def merge_key_for(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        return _ports_key(items)
    return MERGE_KEYS.get(field)


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return clone(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: clone(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # $retainKeys, $setElementOrder/...: simplified away
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            merge_key = merge_key_for(key, value + result[key])
            if merge_key is None:
                result[key] = clone(value)
            else:
                result[key] = _merge_list(result[key], value, merge_key)
        elif isinstance(value, list):
            result[key] = [
                clone({k: v for k, v in item.items() if k != "$patch"})
                if isinstance(item, dict)
                else item
                for item in value
                if not (isinstance(item, dict) and item.get("$patch") == "delete")
            ]
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _merge_list(current: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [
            clone(i) for i in patch if not (isinstance(i, dict) and i.get("$patch") == "replace")
        ]
    result = [clone(item) for item in current]
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            raise PatchInvalid(f"list item {item!r} lacks its merge key {merge_key!r}")
        index = next(
            (i for i, old in enumerate(result) if old.get(merge_key) == item[merge_key]),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append({k: clone(v) for k, v in item.items() if k != "$patch"})
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result
