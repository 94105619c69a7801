"""List paging with ``limit`` and ``continue``, as the API server does it.

A paged list is consistent: every page shows the objects as they were when the first page
was served, and carries that page's resourceVersion, whatever is written in between (etcd
serves the later pages from the first page's revision). Here the first page takes a
snapshot of the resource's objects, which costs a list of references: stored objects are
never changed in place, a write stores a new dict. The continue token names the snapshot,
its resourceVersion and the last key served.

Snapshots live ``ttl`` seconds (the API server's etcd compacts revisions every 5 minutes),
at most ``max_snapshots`` of them; a token whose snapshot is gone gets 410 Gone with reason
Expired and, as the API server sends, a fresh token in the Status's metadata that continues
after the same key from the current state (an inconsistent continuation, if the client
accepts one). A token that cannot be read, or names another resource, is a 400.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import collections
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmservice_testkit.emulator.errors import ApiError, bad_request
from llmservice_testkit.emulator.store import StorageKey

Key = tuple[str, str]  # (namespace or "", name): the order objects are listed in


def key_of(obj: dict[str, Any]) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


@dataclass(frozen=True)
class Snapshot:
    id: int
    storage: StorageKey
    rv: int
    keys: list[Key]  # sorted
    objects: list[dict[str, Any]]  # in the order of keys
    created: float


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    resource_version: int
    continue_token: str | None
    remaining: int | None  # objects after this page; None when selectors filter the list


def parse_limit(text: str | None) -> int:
    """The ``limit`` parameter; 0 (also for an absent or negative one) means no limit."""
    if not text:
        return 0
    try:
        limit = int(text)
    except ValueError as exc:
        raise bad_request(f"invalid limit {text!r}: must be an integer") from exc
    return max(limit, 0)


class Pager:
    def __init__(
        self,
        ttl: float = 300.0,
        max_snapshots: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_snapshots = max_snapshots
        self.clock = clock
        self._snapshots: collections.OrderedDict[int, Snapshot] = collections.OrderedDict()
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._snapshots)

    def clear(self) -> None:
        """Forget every snapshot: outstanding continue tokens expire (as on compaction)."""
        self._snapshots.clear()

    def snapshot(self, storage: StorageKey, rv: int, objects: list[dict[str, Any]]) -> Snapshot:
        ordered = sorted(objects, key=key_of)
        return Snapshot(
            next(self._ids), storage, rv, [key_of(o) for o in ordered], ordered, self.clock()
        )

    def page(
        self,
        snap: Snapshot,
        after: Key | None,
        limit: int,
        keep: Callable[[dict[str, Any]], bool],
        count_remaining: bool,
    ) -> Page:
        """Up to ``limit`` kept objects after ``after``; a token when more are kept."""
        start = 0 if after is None else bisect.bisect_right(snap.keys, after)
        items: list[dict[str, Any]] = []
        more = False
        remaining = 0
        for obj in itertools.islice(snap.objects, start, None):
            if not keep(obj):
                continue
            if len(items) < limit:
                items.append(obj)
                continue
            more = True
            if not count_remaining:
                break
            remaining += 1
        token = None
        if more:
            self._keep(snap)
            token = _encode(snap, key_of(items[-1]))
        return Page(items, snap.rv, token, remaining if count_remaining and more else None)

    def resume(
        self,
        token: str,
        storage: StorageKey,
        current: Callable[[], tuple[int, list[dict[str, Any]]]],
    ) -> tuple[Snapshot, Key]:
        """The snapshot and last key a token continues from; 400 or 410 as the API server."""
        fields = _decode(token)
        if tuple(fields["r"]) != storage:
            raise bad_request("continue key is not valid: it was issued for another resource")
        after: Key = (fields["start"][0], fields["start"][1])
        snap = self._snapshots.get(fields["s"])
        if snap is not None and self.clock() - snap.created > self.ttl:
            del self._snapshots[snap.id]
            snap = None
        if snap is None:
            rv, objects = current()
            fresh = self.snapshot(storage, rv, objects)
            start = bisect.bisect_right(fresh.keys, after)
            metadata: dict[str, Any] = {}
            if start < len(fresh.keys):
                # One past the last key served: the fresh snapshot resumes from there.
                self._keep(fresh)
                metadata["continue"] = _encode(fresh, after)
            raise ApiError(
                410,
                "Expired",
                "the continue token is too old for a consistent list (its resourceVersion "
                f"{fields['rv']} is no longer kept): list again without it, or continue "
                "inconsistently with the token in this Status's metadata",
                metadata=metadata,
            )
        self._snapshots.move_to_end(snap.id)
        return snap, after

    def _keep(self, snap: Snapshot) -> None:
        if snap.id in self._snapshots:
            return
        self._snapshots[snap.id] = snap
        now = self.clock()
        for old in list(self._snapshots.values()):
            if now - old.created > self.ttl:
                del self._snapshots[old.id]
        while len(self._snapshots) > self.max_snapshots:
            self._snapshots.popitem(last=False)


def _encode(snap: Snapshot, after: Key) -> str:
    fields = {
        "v": "meta.k8s.io/v1",
        "rv": snap.rv,
        "start": list(after),
        "r": list(snap.storage),
        "s": snap.id,
    }
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


def _decode(token: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        fields = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise bad_request(f"continue key is not valid: {exc}") from exc
    if not (
        isinstance(fields, dict)
        and fields.get("v") == "meta.k8s.io/v1"
        and isinstance(fields.get("rv"), int)
        and isinstance(fields.get("s"), int)
        and _pair_of_strings(fields.get("start"))
        and _pair_of_strings(fields.get("r"))
    ):
        raise bad_request("continue key is not valid: unexpected content")
    return fields


def _pair_of_strings(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)
