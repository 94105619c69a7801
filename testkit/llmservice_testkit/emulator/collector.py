"""Garbage collection and namespace deletion: the only controllers this server runs.

Run synchronously after every write until nothing changes, so a test sees the collected
state as soon as the triggering request returns (a real cluster gets there a moment later).

- An object whose every ownerReference points to a missing uid is deleted (background).
- ``foregroundDeletion``: the owner's dependents are deleted; the finalizer goes when none
  are left, and with it the owner.
- ``orphan``: dependents lose their ownerReference to the owner; then the finalizer goes.
- A terminating Namespace has its contents deleted; when empty, its ``kubernetes``
  finalizer is removed and the namespace goes away.

Only the objects a write can affect are looked at, through the store's indexes (owner uid
-> dependents, namespace -> contents), so a write costs the same however many objects are
stored: the writes since the last run (``Store.changes``) are turned into a worklist of
checks, and every check that writes adds its own changes until the worklist is empty.
``visits`` counts the objects looked at, for tests that the cost stays flat.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any

from llmservice_testkit.emulator.clone import clone
from llmservice_testkit.emulator.store import Change, StorageKey

if TYPE_CHECKING:
    from llmservice_testkit.emulator.server import ApiServer

# What to look at: ("object", uid) for an owner being deleted with a finalizer, a
# terminating namespace or a possible orphan; ("empty", namespace) for a terminating
# namespace whose last contents may have gone.
Check = tuple[str, str]


def _rt_of(server: ApiServer, storage: StorageKey, obj: dict[str, Any]) -> Any:
    api_version = obj.get("apiVersion", "")
    group, _, version = api_version.rpartition("/")
    rt = server.registry.find(group, version, storage[1])
    if rt is None:
        rt = next(r for r in server.registry.all() if r.storage_key == storage)
    return rt


def _is_namespace(storage: StorageKey) -> bool:
    return storage == ("", "namespaces")


def _terminating_namespace(server: ApiServer, name: str | None) -> bool:
    if name is None:
        return False
    ns = server.store.get(("", "namespaces"), (None, name))
    return ns is not None and bool(ns["metadata"].get("deletionTimestamp"))


def _orphaned(server: ApiServer, meta: dict[str, Any]) -> bool:
    refs = meta.get("ownerReferences") or []
    return bool(refs) and all(server.store.by_uid(ref.get("uid", "")) is None for ref in refs)


def _checks_for(server: ApiServer, change: Change) -> list[Check]:
    """The checks one stored write calls for; most writes call for none."""
    checks: list[Check] = []
    before = change.prev["metadata"] if change.prev is not None else {}
    after = change.now["metadata"] if change.now is not None else None
    # An owner waiting on its dependents (foreground or orphan) when one changes or goes.
    for meta in (before, after or {}):
        for ref in meta.get("ownerReferences") or []:
            found = server.store.by_uid(ref.get("uid", ""))
            if found is not None and found[1]["metadata"].get("deletionTimestamp"):
                checks.append(("object", ref["uid"]))
    if after is None:
        # Gone: its dependents may now be orphans; its namespace may now be empty.
        checks += [
            ("object", d["metadata"]["uid"]) for _, d in server.store.dependents(before["uid"])
        ]
        if _terminating_namespace(server, before.get("namespace")):
            checks.append(("empty", before["namespace"]))
        return checks
    if after.get("deletionTimestamp"):
        finalizers = after.get("finalizers") or []
        waits = "orphan" in finalizers or "foregroundDeletion" in finalizers
        newly_terminating = _is_namespace(change.storage) and not before.get("deletionTimestamp")
        if waits or newly_terminating:
            checks.append(("object", after["uid"]))
        elif _is_namespace(change.storage):
            checks.append(("empty", after["name"]))
        return checks
    if _orphaned(server, after) or _terminating_namespace(server, after.get("namespace")):
        checks.append(("object", after["uid"]))
    return checks


def _drop_finalizer(
    server: ApiServer, storage: StorageKey, obj: dict[str, Any], finalizer: str
) -> None:
    rt = _rt_of(server, storage, obj)
    new = clone(obj)
    new["metadata"]["finalizers"] = [
        f for f in obj["metadata"].get("finalizers", []) if f != finalizer
    ]
    if not new["metadata"]["finalizers"]:
        del new["metadata"]["finalizers"]
    server.commit(rt, obj, new, None)


def _delete(server: ApiServer, storage: StorageKey, obj: dict[str, Any], policy: str) -> None:
    """Delete ``obj`` unless an earlier step of this run already did."""
    meta = obj["metadata"]
    current = server.store.get(storage, (meta.get("namespace"), meta["name"]))
    if current is None or current["metadata"].get("deletionTimestamp"):
        return
    server.delete_object(_rt_of(server, storage, current), current, policy)


def _empty(server: ApiServer, name: str) -> None:
    """A terminating namespace with nothing left in it loses its finalizers, and goes."""
    server.gc_visits += 1
    ns = server.store.get(("", "namespaces"), (None, name))
    if ns is None or not ns["metadata"].get("deletionTimestamp"):
        return
    if server.store.count_in(name) == 0 and (ns.get("spec") or {}).get("finalizers"):
        new = clone(ns)
        new["spec"]["finalizers"] = []
        server.commit(_rt_of(server, ("", "namespaces"), ns), ns, new, None)


def _deleting(server: ApiServer, storage: StorageKey, obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    finalizers = meta.get("finalizers") or []
    mine = server.store.dependents(meta["uid"])
    server.gc_visits += len(mine)
    if "orphan" in finalizers:
        for dep_storage, dep in mine:
            new = clone(dep)
            new["metadata"]["ownerReferences"] = [
                r for r in dep["metadata"].get("ownerReferences", []) if r.get("uid") != meta["uid"]
            ]
            server.commit(_rt_of(server, dep_storage, dep), dep, new, None)
        _drop_finalizer(server, storage, obj, "orphan")
        return
    if "foregroundDeletion" in finalizers:
        pending = [(s, d) for s, d in mine if not d["metadata"].get("deletionTimestamp")]
        for dep_storage, dep in pending:
            _delete(server, dep_storage, dep, "Foreground")
        if not mine:
            _drop_finalizer(server, storage, obj, "foregroundDeletion")
        return  # the dependents' removals bring the owner back here
    if _is_namespace(storage):
        contents = server.store.contents(meta["name"])
        server.gc_visits += len(contents)
        for s, o in contents:
            _delete(server, s, o, "Background")
        _empty(server, meta["name"])


def _check(server: ApiServer, check: Check) -> None:
    kind, key = check
    if kind == "empty":
        _empty(server, key)
        return
    found = server.store.by_uid(key)
    server.gc_visits += 1
    if found is None:
        return
    storage, obj = found
    meta = obj["metadata"]
    if meta.get("deletionTimestamp"):
        _deleting(server, storage, obj)
    elif _orphaned(server, meta) or _terminating_namespace(server, meta.get("namespace")):
        _delete(server, storage, obj, "Background")


def collect(server: ApiServer) -> None:
    """Act on every write since the last run, and on the writes that causes, until none."""
    queue: collections.deque[Check] = collections.deque()
    queued: set[Check] = set()
    while True:
        for change in server.store.take_changes():
            for check in _checks_for(server, change):
                if check not in queued:
                    queued.add(check)
                    queue.append(check)
        if not queue:
            return
        check = queue.popleft()
        queued.discard(check)
        _check(server, check)
