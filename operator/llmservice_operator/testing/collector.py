"""Garbage collection and namespace deletion: the only controllers this server runs.

Run synchronously after every write until nothing changes, so a test sees the collected
state as soon as the triggering request returns (a real cluster gets there a moment later).

- An object whose every ownerReference points to a missing uid is deleted (background).
- ``foregroundDeletion``: the owner's dependents are deleted; the finalizer goes when none
  are left, and with it the owner.
- ``orphan``: dependents lose their ownerReference to the owner; then the finalizer goes.
- A terminating Namespace has its contents deleted; when empty, its ``kubernetes``
  finalizer is removed and the namespace goes away.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmservice_operator.testing.server import ApiServer

_MAX_PASSES = 50


def _rt_of(server: ApiServer, storage: tuple[str, str], obj: dict[str, Any]) -> Any:
    api_version = obj.get("apiVersion", "")
    group, _, version = api_version.rpartition("/")
    rt = server.registry.find(group, version, storage[1])
    if rt is None:
        rt = next(r for r in server.registry.all() if r.storage_key == storage)
    return rt


def _drop_finalizer(
    server: ApiServer, storage: tuple[str, str], obj: dict[str, Any], finalizer: str
) -> None:
    rt = _rt_of(server, storage, obj)
    new = copy.deepcopy(obj)
    new["metadata"]["finalizers"] = [
        f for f in obj["metadata"].get("finalizers", []) if f != finalizer
    ]
    if not new["metadata"]["finalizers"]:
        del new["metadata"]["finalizers"]
    server._commit(rt, obj, new, None)


def _one_pass(server: ApiServer) -> bool:
    everything = server.store.all_objects()
    uids = {obj["metadata"]["uid"] for _, obj in everything}
    dependents: dict[str, list[tuple[tuple[str, str], dict[str, Any]]]] = {}
    for storage, obj in everything:
        for ref in obj["metadata"].get("ownerReferences") or []:
            dependents.setdefault(ref.get("uid", ""), []).append((storage, obj))

    for storage, obj in everything:
        meta = obj["metadata"]
        rt = _rt_of(server, storage, obj)
        if meta.get("deletionTimestamp"):
            finalizers = meta.get("finalizers") or []
            mine = dependents.get(meta["uid"], [])
            if "orphan" in finalizers:
                for dep_storage, dep in mine:
                    new = copy.deepcopy(dep)
                    new["metadata"]["ownerReferences"] = [
                        r
                        for r in dep["metadata"].get("ownerReferences", [])
                        if r.get("uid") != meta["uid"]
                    ]
                    server._commit(_rt_of(server, dep_storage, dep), dep, new, None)
                _drop_finalizer(server, storage, obj, "orphan")
                return True
            if "foregroundDeletion" in finalizers:
                pending = [(s, d) for s, d in mine if not d["metadata"].get("deletionTimestamp")]
                for dep_storage, dep in pending:
                    server.delete_object(_rt_of(server, dep_storage, dep), dep, "Foreground")
                if pending:
                    return True
                if not mine:
                    _drop_finalizer(server, storage, obj, "foregroundDeletion")
                    return True
            if rt.kind == "Namespace" and rt.group == "":
                contents = [
                    (s, o) for s, o in everything if o["metadata"].get("namespace") == meta["name"]
                ]
                for s, o in contents:
                    if not o["metadata"].get("deletionTimestamp"):
                        server.delete_object(_rt_of(server, s, o), o, "Background")
                        return True
                if not contents and (obj.get("spec") or {}).get("finalizers"):
                    new = copy.deepcopy(obj)
                    new["spec"]["finalizers"] = []
                    server._commit(rt, obj, new, None)
                    return True
            continue
        refs = meta.get("ownerReferences") or []
        if refs and all(ref.get("uid") not in uids for ref in refs):
            server.delete_object(rt, obj, "Background")
            return True
    return False


def collect(server: ApiServer) -> None:
    for _ in range(_MAX_PASSES * 100):
        if not _one_pass(server):
            return
