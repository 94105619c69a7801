"""What the operator knows of the cluster: small summaries of the watched objects.

kopf's watches feed this cache (see :mod:`handlers`); the reconcile reads it and never asks
the API server for an object it watches.

Why not kopf's indexes, which do the same: on start, kopf holds the worker of every listed
object until every object of every indexed kind has been indexed, and each worker that
finishes wakes all the others. The start-up time grows with the square of the number of
objects (1.7 s for 1,000 workers, 32 s for 4,000 on our machines) and every listed body is
kept meanwhile: a restarted operator with a thousand LLMServices took two minutes and
300 MB before its first reconcile. Here each event is folded into the cache as it comes,
and :class:`StartupSync` says when the cache has heard of everything that existed at
start, which is what the indexes' wait was for (a restarted operator must not recreate a
child only because its event came late).

Summaries are kept as compact JSON: a tenth of the memory of the same dicts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Obj = Mapping[str, Any]
Key = tuple[str, str]  # namespace, name
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


class StartupSync:
    """Whether the watches have reported every object that existed when the operator
    started.

    The operator lists each watched kind once at start (before kopf's watches begin) and
    expects to hear of each listed object from the watch. An object deleted in between is
    never reported: when no new object has been reported for ``stall_seconds``, the caller
    asks the API server about the ones still missing (:meth:`stalled`, :meth:`gone`).
    """

    def __init__(self, stall_seconds: float = 2.0) -> None:
        self.stall_seconds = stall_seconds
        self._expected: dict[ObjectId, str] | None = None  # None: not listed yet
        self._heard: set[tuple[ObjectId, str]] = set()
        self._progress = time.monotonic()

    def expect(self, objects: Iterable[tuple[ObjectId, str]]) -> None:
        """The listed objects, as ((kind, namespace, name), uid)."""
        expected = dict(objects)
        for oid, uid in self._heard:
            if expected.get(oid) == uid:
                del expected[oid]
        self._expected = expected
        self._heard.clear()
        self._progress = time.monotonic()

    def heard(self, oid: ObjectId, uid: str) -> None:
        if self._expected is None:
            self._heard.add((oid, uid))  # before the listing: remembered for expect()
            return
        if self._expected.get(oid) == uid:
            del self._expected[oid]
            self._progress = time.monotonic()

    def gone(self, oid: ObjectId, uid: str | None) -> None:
        """The API server says ``oid`` no longer exists (uid None) or is another object."""
        if self._expected is not None and self._expected.get(oid) != uid:
            self._expected.pop(oid, None)
            self._progress = time.monotonic()

    @property
    def complete(self) -> bool:
        return self._expected is not None and not self._expected

    def missing(self) -> list[tuple[ObjectId, str]]:
        return list((self._expected or {}).items())

    def stalled_since_now(self) -> None:
        """Asked about the missing ones: wait another stall period before asking again."""
        self._progress = time.monotonic()

    def stalled(self, now: float | None = None) -> bool:
        moment = time.monotonic() if now is None else now
        return moment - self._progress >= self.stall_seconds
