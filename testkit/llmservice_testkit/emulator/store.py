"""Objects in memory, one global resourceVersion counter, and the event log watches resume from.

Everything here runs on the server's event loop; no method awaits, so each write is atomic
with respect to every other request and watch.

Besides the objects, the store keeps the indexes the garbage collector needs so that a write
costs the same whatever the number of stored objects: uid -> location, owner uid ->
dependents' locations, namespace -> contents' locations. Every write is also recorded in
``changes`` until the collector takes it.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field
from typing import Any

from llmservice_testkit.emulator.clone import clone

StorageKey = tuple[str, str]  # (group, plural)
ObjectKey = tuple[str | None, str]  # (namespace, name)
Location = tuple[StorageKey, ObjectKey]


@dataclass(frozen=True)
class Change:
    """One stored write: ``prev`` is None for a create, ``now`` is None for a removal."""

    storage: StorageKey
    prev: dict[str, Any] | None
    now: dict[str, Any] | None


@dataclass(frozen=True)
class Event:
    rv: int
    storage: StorageKey
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict[str, Any]
    prev: dict[str, Any] | None = None  # the object before, for selector transitions
    # Serialised watch frames of this event, shared by every watcher asking for the same
    # rendering: one json.dumps per event and rendering, not one per watcher.
    frames: dict[tuple[Any, ...], bytes] = field(default_factory=dict, compare=False, repr=False)


@dataclass(eq=False)
class Watcher:
    storage: StorageKey
    queue: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)


class Store:
    def __init__(self, history: int = 5000) -> None:
        self.rv = 1
        self.objects: dict[StorageKey, dict[ObjectKey, dict[str, Any]]] = collections.defaultdict(
            dict
        )
        self.log: collections.deque[Event] = collections.deque(maxlen=history)
        self.oldest = 1  # a watch from a resourceVersion below this gets 410 Gone
        self.watchers: set[Watcher] = set()
        self._by_uid: dict[str, Location] = {}
        self._dependents: dict[str, set[Location]] = {}
        self._contents: dict[str, set[Location]] = {}
        self.changes: list[Change] = []

    def get(self, storage: StorageKey, key: ObjectKey) -> dict[str, Any] | None:
        return self.objects[storage].get(key)

    def items(self, storage: StorageKey, namespace: str | None) -> list[dict[str, Any]]:
        objs = self.objects[storage]
        return [
            obj
            for (ns, _), obj in sorted(objs.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))
            if namespace is None or ns == namespace
        ]

    def all_objects(self) -> list[tuple[StorageKey, dict[str, Any]]]:
        return [(storage, obj) for storage, objs in self.objects.items() for obj in objs.values()]

    def by_uid(self, uid: str) -> tuple[StorageKey, dict[str, Any]] | None:
        where = self._by_uid.get(uid)
        if where is None:
            return None
        return where[0], self.objects[where[0]][where[1]]

    def dependents(self, uid: str) -> list[tuple[StorageKey, dict[str, Any]]]:
        """Objects with an ownerReference to ``uid``, in a stable order."""
        return [
            (s, self.objects[s][k]) for s, k in sorted(self._dependents.get(uid, ()), key=_order)
        ]

    def contents(self, namespace: str) -> list[tuple[StorageKey, dict[str, Any]]]:
        """Objects stored in ``namespace``, in a stable order."""
        return [
            (s, self.objects[s][k])
            for s, k in sorted(self._contents.get(namespace, ()), key=_order)
        ]

    def count_in(self, namespace: str) -> int:
        return len(self._contents.get(namespace, ()))

    def take_changes(self) -> list[Change]:
        changes, self.changes = self.changes, []
        return changes

    def _unindex(self, storage: StorageKey, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        where = (storage, (meta.get("namespace"), meta["name"]))
        self._by_uid.pop(meta.get("uid", ""), None)
        for ref in meta.get("ownerReferences") or []:
            _discard(self._dependents, ref.get("uid", ""), where)
        if meta.get("namespace") is not None:
            _discard(self._contents, meta["namespace"], where)

    def _index(self, storage: StorageKey, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        where = (storage, (meta.get("namespace"), meta["name"]))
        self._by_uid[meta.get("uid", "")] = where
        for ref in meta.get("ownerReferences") or []:
            self._dependents.setdefault(ref.get("uid", ""), set()).add(where)
        if meta.get("namespace") is not None:
            self._contents.setdefault(meta["namespace"], set()).add(where)

    def put(self, storage: StorageKey, obj: dict[str, Any], event: str) -> dict[str, Any]:
        """Store ``obj`` under a new resourceVersion and tell the watchers."""
        self.rv += 1
        obj = clone(obj)
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self.rv)
        key = (meta.get("namespace"), meta["name"])
        prev = self.objects[storage].get(key)
        if prev is not None:
            self._unindex(storage, prev)
        self.objects[storage][key] = obj
        self._index(storage, obj)
        self.changes.append(Change(storage, prev, obj))
        self._emit(Event(self.rv, storage, event, obj, prev))
        return obj

    def remove(self, storage: StorageKey, obj: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        meta = obj["metadata"]
        stored = self.objects[storage].pop((meta.get("namespace"), meta["name"]), None)
        if stored is not None:
            self._unindex(storage, stored)
            self.changes.append(Change(storage, stored, None))
        gone = clone(obj)
        gone["metadata"]["resourceVersion"] = str(self.rv)
        self._emit(Event(self.rv, storage, "DELETED", gone, obj))
        return gone

    def _emit(self, event: Event) -> None:
        if self.log.maxlen is not None and len(self.log) == self.log.maxlen:
            self.oldest = self.log[0].rv
        self.log.append(event)
        for watcher in list(self.watchers):
            if watcher.storage == event.storage:
                watcher.queue.put_nowait(event)

    def since(self, storage: StorageKey, rv: int) -> list[Event] | None:
        """Events after ``rv``, or None when the log no longer reaches back that far."""
        if rv < self.oldest:
            return None
        return [e for e in self.log if e.rv > rv and e.storage == storage]

    def expire(self) -> None:
        """Forget the history: watches must start over from a fresh list."""
        self.log.clear()
        self.oldest = self.rv

    def subscribe(self, storage: StorageKey) -> Watcher:
        watcher = Watcher(storage)
        self.watchers.add(watcher)
        return watcher

    def unsubscribe(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)

    def cut_watches(self) -> None:
        for watcher in list(self.watchers):
            watcher.queue.put_nowait(None)


def _order(where: Location) -> tuple[str, str, str, str]:
    (group, plural), (namespace, name) = where
    return (group, plural, namespace or "", name)


def _discard(index: dict[str, set[Location]], key: str, where: Location) -> None:
    members = index.get(key)
    if members is None:
        return
    members.discard(where)
    if not members:
        del index[key]
