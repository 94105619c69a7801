"""Server-side apply and managedFields, simplified.

Ownership is tracked per field manager as a set of leaf paths, stored in the real
``metadata.managedFields`` shape (FieldsV1: ``f:<field>``, ``k:{"name":...}`` for keyed
list items) so clients can read it. Simplifications, on purpose:

- lists of objects are keyed by the merge keys of ``patching.MERGE_KEYS`` (the same table
  strategic merge patch uses); every other list is atomic, owned whole;
- a conflict is an applied leaf whose value differs from the live one and that another
  manager owns; ``force`` takes it over;
- an apply drops the fields this manager applied before and omits now, unless another
  manager owns them too;
- non-apply writes (create, update, patch) give the changed leaves to their manager
  (operation ``Update``) and take them from everyone else;
- ownership is recomputed only when it changes, so a no-op apply leaves the object,
  its managedFields timestamps and its resourceVersion untouched.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from llmservice_testkit.emulator.clone import clone
from llmservice_testkit.emulator.errors import ApiError
from llmservice_testkit.emulator.patching import merge_key_for

Path = tuple[str, ...]
_IGNORED_META = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
}


def _item_segment(item: dict[str, Any], key: str) -> str:
    value = item[key]
    if isinstance(value, (str, int, float)) or value is None:
        return _scalar_segment(key, value)
    return "k:" + json.dumps({key: value}, separators=(",", ":"))


@functools.lru_cache(maxsize=4096, typed=True)  # typed: 1, 1.0 and True differ in JSON
def _scalar_segment(key: str, value: str | float | None) -> str:
    return "k:" + json.dumps({key: value}, separators=(",", ":"))


def leaves(obj: Any, prefix: Path = (), field: str = "") -> dict[Path, Any]:
    """Every owned leaf path of ``obj`` with its value."""
    out: dict[Path, Any] = {}
    _collect_leaves(obj, prefix, field, out)
    return out


def _collect_leaves(obj: Any, prefix: Path, field: str, out: dict[Path, Any]) -> None:
    if isinstance(obj, dict) and obj:
        for key, value in obj.items():
            if not prefix and key in ("apiVersion", "kind"):
                continue
            if prefix == ("f:metadata",) and key in _IGNORED_META:
                continue
            _collect_leaves(value, (*prefix, f"f:{key}"), key, out)
        return
    if isinstance(obj, list) and obj and all(isinstance(i, dict) for i in obj):
        key = merge_key_for(field, obj)
        if key is not None and all(key in item for item in obj):
            for item in obj:
                seg = (*prefix, _item_segment(item, key))
                out[(*seg, ".")] = True
                _collect_leaves(item, seg, "", out)
            return
    if prefix:
        out[prefix] = obj


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for seg in path:
            node = node.setdefault(seg, {})
    return tree


def from_fields_v1(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for seg, sub in tree.items():
        path = (*prefix, seg)
        if sub:
            paths |= from_fields_v1(sub, path)
        else:
            paths.add(path)
    return paths


def get_path(obj: Any, path: Path) -> tuple[bool, Any]:
    node = obj
    for seg in path:
        if seg == ".":
            return True, True
        if seg.startswith("f:"):
            if not isinstance(node, dict) or seg[2:] not in node:
                return False, None
            node = node[seg[2:]]
        else:  # k:{...}
            if not isinstance(node, list):
                return False, None
            want = json.loads(seg[2:])
            key, value = next(iter(want.items()))
            found = [i for i in node if isinstance(i, dict) and i.get(key) == value]
            if not found:
                return False, None
            node = found[0]
    return True, node


def remove_path(obj: Any, path: Path) -> None:
    if path and path[-1] == ".":
        path = path[:-1]
    parent_ok, parent = get_path(obj, path[:-1]) if len(path) > 1 else (True, obj)
    if not parent_ok:
        return
    seg = path[-1]
    if seg.startswith("f:") and isinstance(parent, dict):
        parent.pop(seg[2:], None)
    elif seg.startswith("k:") and isinstance(parent, list):
        key, value = next(iter(json.loads(seg[2:]).items()))
        parent[:] = [i for i in parent if not (isinstance(i, dict) and i.get(key) == value)]


def merge_applied(live: Any, applied: Any, field: str = "") -> Any:
    """Overlay an applied configuration: dicts merge, keyed lists merge by key."""
    if isinstance(applied, dict) and isinstance(live, dict):
        result = dict(live)
        for key, value in applied.items():
            result[key] = merge_applied(live.get(key), value, key)
        return result
    if isinstance(applied, list) and isinstance(live, list) and applied:
        key = merge_key_for(field, applied)
        if key and all(isinstance(i, dict) and key in i for i in applied + live):
            result_list = [clone(i) for i in live]
            for item in applied:
                index = next(
                    (n for n, old in enumerate(result_list) if old.get(key) == item[key]), None
                )
                if index is None:
                    result_list.append(clone(item))
                else:
                    result_list[index] = merge_applied(result_list[index], item, "")
            return result_list
    return clone(applied)


def _entries(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list(obj.get("metadata", {}).get("managedFields") or [])


def _owned(entry: dict[str, Any]) -> set[Path]:
    return from_fields_v1(entry.get("fieldsV1") or {})


def _set_entries(
    obj: dict[str, Any],
    old_entries: list[dict[str, Any]],
    ownership: dict[tuple[str, str, str], set[Path]],
    api_version: str,
    now: str,
) -> None:
    """Write ownership back, keeping an entry's timestamp when its fields did not change."""
    previous = {(e["manager"], e["operation"], e.get("subresource", "")): e for e in old_entries}
    entries: list[dict[str, Any]] = []
    for (manager, operation, sub), paths in ownership.items():
        if not paths:
            continue
        old = previous.get((manager, operation, sub))
        if old is not None and _owned(old) == paths:
            entries.append(old)
            continue
        entry = {
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": now,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(paths),
        }
        if sub:
            entry["subresource"] = sub
        entries.append(entry)
    meta = obj.setdefault("metadata", {})
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)


def _ownership(entries: list[dict[str, Any]]) -> dict[tuple[str, str, str], set[Path]]:
    result: dict[tuple[str, str, str], set[Path]] = {}
    for e in entries:
        result[(e["manager"], e["operation"], e.get("subresource", ""))] = _owned(e)
    return result


def record_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    manager: str,
    api_version: str,
    now: str,
    subresource: str = "",
    before: dict[Path, Any] | None = None,
) -> dict[Path, Any]:
    """Give the leaves a non-apply write changed to ``manager``; drop leaves that vanished.

    ``before`` is ``leaves(old)`` when the caller has it already; the leaves of ``new`` are
    returned for the same reuse on the next write.
    """
    if before is None:
        before = leaves(old) if old is not None else {}
    after = leaves(new)
    changed = {p for p, v in after.items() if before.get(p, object()) != v or p not in before}
    gone = set(before) - set(after)
    entries = _entries(old) if old is not None else []
    ownership = _ownership(entries)
    for key in ownership:
        ownership[key] = (ownership[key] - changed - gone) & set(after)
    if changed:
        mine = (manager, "Update", subresource)
        ownership[mine] = ownership.get(mine, set()) | changed
    _set_entries(new, entries, ownership, api_version, now)
    return after


def apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    manager: str,
    force: bool,
    api_version: str,
    now: str,
    subresource: str = "",
) -> dict[str, Any]:
    """The object after ``manager`` applies ``applied``; 409 on conflicts without force."""
    applied_leaves = leaves(applied)
    applied_paths = set(applied_leaves)
    base = clone(live) if live is not None else {}
    entries = _entries(base)
    ownership = _ownership(entries)
    mine = (manager, "Apply", subresource)

    conflicts: list[tuple[str, Path]] = []
    for key, paths in ownership.items():
        if key[0] == manager:
            continue
        for path in paths & applied_paths:
            found, value = get_path(base, path)
            if found and value != applied_leaves[path]:
                conflicts.append((key[0], path))
    if conflicts and not force:
        described = "\n".join(
            f'- conflict with "{who}": .{".".join(s[2:] for s in path if s != ".")}'
            for who, path in sorted(conflicts)
        )
        raise ApiError(
            409,
            "Conflict",
            f"Apply failed with {len(conflicts)} conflict{'s' if len(conflicts) > 1 else ''}:"
            f" {described}",
            {
                "causes": [
                    {
                        "reason": "FieldManagerConflict",
                        "message": f'conflict with "{who}"',
                        "field": "." + ".".join(s[2:] for s in path if s != "."),
                    }
                    for who, path in conflicts
                ]
            },
        )
    taken = {path for _, path in conflicts}

    others = set().union(*(p for k, p in ownership.items() if k != mine)) if ownership else set()
    previously_mine = ownership.get(mine, set())
    result = base
    for path in sorted(previously_mine - applied_paths - others, key=len, reverse=True):
        remove_path(result, path)
    result = dict(merge_applied(result, applied, ""))
    for key in ownership:
        if key != mine:
            ownership[key] = ownership[key] - taken
    ownership[mine] = applied_paths
    present = set(leaves(result))
    for key in ownership:
        ownership[key] &= present
    _set_entries(result, entries, ownership, api_version, now)
    return result
