"""What the operator knows of the cluster: small summaries of the watched objects.

kopf's watches feed this cache (through :mod:`.intake`); the reconcile reads it and never
asks the API server for an object it watches.

Why not kopf's indexes, which do the same: on start, kopf holds the worker of every listed
object until every object of every indexed kind has been indexed, and each worker that
finishes wakes all the others. The start-up time grows with the square of the number of
objects (1.7 s for 1,000 workers, 32 s for 4,000 on our machines) and every listed body is
kept meanwhile: a restarted operator with a thousand LLMServices took two minutes and
300 MB before its first reconcile. Here each event is folded into the cache as it comes,
and :class:`~.startup.StartupSync` says when the cache has heard of everything that existed at
start, which is what the indexes' wait was for (a restarted operator must not recreate a
child only because its event came late).

What is kept of each object is a summary (:func:`service_summary`, :func:`child_summary`,
``status.project_pod``): what the reconcile and the status read, nothing more.

Summaries are kept as compact JSON: a tenth of the memory of the same dicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmservice_operator.api import naming
from llmservice_operator.core import planner, status

Obj = Mapping[str, Any]
Key = tuple[str, str]  # namespace, name (of an LLMService)
ObjectId = tuple[str, str, str]  # kind, namespace, name


def pack(summary: Obj) -> str:
    return json.dumps(summary, separators=(",", ":"))


def unpack(value: str) -> dict[str, Any]:
    loaded = json.loads(value)
    return loaded if isinstance(loaded, dict) else {}


def resource_version(body: Obj) -> int | None:
    """The resourceVersion as a number, when it is one (etcd's and our local server's are;
    Kubernetes calls them opaque, so an unreadable one is never compared)."""
    try:
        return int(str((body.get("metadata") or {}).get("resourceVersion")))
    except (TypeError, ValueError):
        return None


def newer(a: Obj | None, b: Obj | None) -> Obj | None:
    """Of two versions of one object, the one with the later resourceVersion (``a`` when
    they cannot be ordered: resourceVersions are opaque, the emulator's and etcd's are
    integers)."""
    if a is None or b is None:
        return a if b is None else b
    ra, rb = resource_version(a), resource_version(b)
    if ra is not None and rb is not None and rb > ra:
        return b
    return a


def service_summary(body: Obj) -> dict[str, Any]:
    """What the operator keeps of an LLMService: identity, spec and status."""
    meta = body.get("metadata") or {}
    kept = ("name", "namespace", "uid", "generation", "resourceVersion", "deletionTimestamp")
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {k: meta[k] for k in kept if meta.get(k) is not None},
        "spec": body.get("spec") or {},
        "status": body.get("status") or {},
    }


def child_summary(body: Obj) -> dict[str, Any]:
    """Identity, ownership and hash of a child, plus what status reads of it."""
    meta = body.get("metadata") or {}
    obj_labels = meta.get("labels") or {}
    ref = planner.controller_of(body)
    summary: dict[str, Any] = {
        "kind": body.get("kind"),
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "labels": {
                k: obj_labels[k]
                for k in (naming.MANAGED_BY_LABEL, naming.SERVICE_LABEL)
                if k in obj_labels
            },
            "annotations": {},
            "ownerReferences": [dict(ref)] if ref else [],
        },
    }
    digest = planner.hash_of(body)
    if digest is not None:
        summary["metadata"]["annotations"] = {planner.HASH_ANNOTATION: digest}
    kind = body.get("kind")
    if kind == "Deployment":
        projected = status.project_deployment(body)
        summary["spec"], summary["status"] = projected["spec"], projected["status"]
        summary["metadata"]["generation"] = meta.get("generation")
        if planner.applies_replicas(body):
            summary["appliesReplicas"] = True
    elif kind == "HorizontalPodAutoscaler":
        projected = status.project_hpa(body)
        summary["spec"], summary["status"] = projected["spec"], projected["status"]
    return summary


@dataclass(frozen=True)
class Entry:
    uid: str
    version: int | None
    packed: str

    @classmethod
    def of(cls, body: Obj, summary: Obj) -> Entry:
        uid = str((body.get("metadata") or {}).get("uid") or "")
        return cls(uid, resource_version(body), pack(summary))

    def older_than(self, other: Entry) -> bool:
        if self.version is None or other.version is None:
            return True  # cannot tell: the watch delivers in order, so the later event wins
        return self.version < other.version


class Cache:
    """The latest summary of each watched object, by kind and namespace/name (pods by the
    LLMService they belong to).

    Events of different objects arrive out of order (kopf handles each object in a task of
    its own): an object deleted and recreated under the same name may be reported as added
    before the old one is reported gone. Hence a deletion removes only the object with the
    deleted uid, and of two objects under one name the later resourceVersion wins.
    """

    def __init__(self) -> None:
        self._objects: dict[str, dict[Key, Entry]] = {}
        self._pods: dict[Key, dict[str, Entry]] = {}

    def put(self, kind: str, key: Key, body: Obj, summary: Obj) -> None:
        entry = Entry.of(body, summary)
        store = self._objects.setdefault(kind, {})
        known = store.get(key)
        if known is None or known.uid == entry.uid or known.older_than(entry):
            store[key] = entry

    def remove(self, kind: str, key: Key, uid: str) -> bool:
        """Forget the object with this uid; False when another one (or none) is known
        under its name."""
        store = self._objects.get(kind)
        if store is not None and key in store and store[key].uid == uid:
            del store[key]
            return True
        return False

    def get(self, kind: str, key: Key) -> dict[str, Any] | None:
        entry = self._objects.get(kind, {}).get(key)
        return None if entry is None else unpack(entry.packed)

    def __contains__(self, item: tuple[str, Key]) -> bool:
        kind, key = item
        return key in self._objects.get(kind, {})

    def put_pod(self, owner: Key, body: Obj, summary: Obj) -> None:
        entry = Entry.of(body, summary)
        self._pods.setdefault(owner, {})[entry.uid] = entry

    def remove_pod(self, owner: Key, uid: str) -> None:
        pods = self._pods.get(owner)
        if pods is not None:
            pods.pop(uid, None)
            if not pods:
                del self._pods[owner]

    def pods(self, owner: Key) -> list[dict[str, Any]]:
        return [unpack(e.packed) for e in self._pods.get(owner, {}).values()]

    def count(self, kind: str) -> int:
        if kind == "Pod":
            return sum(len(p) for p in self._pods.values())
        return len(self._objects.get(kind, {}))
