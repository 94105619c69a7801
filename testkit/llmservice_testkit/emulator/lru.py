"""A least-recently-used map bounded in entries and in the bytes of its keys.

The server memoizes pure functions of documents (built-in schema checks of unchanged
sub-objects); keys are the documents' pickles, so their size, not only their number, must
stay bounded.
"""

from __future__ import annotations

import collections
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedLRU(Generic[K, V]):
    """``put`` takes the size an entry counts for (its key's bytes, say)."""

    def __init__(self, max_entries: int, max_key_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_key_bytes = max_key_bytes
        self._entries: collections.OrderedDict[K, tuple[V, int]] = collections.OrderedDict()
        self.key_bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return found[0]

    def put(self, key: K, value: V, size: int = 0) -> None:
        if key in self._entries or self.max_entries <= 0:
            return
        self._entries[key] = (value, size)
        self.key_bytes += size
        while self._entries and (
            len(self._entries) > self.max_entries or self.key_bytes > self.max_key_bytes
        ):
            _, (_, dropped) = self._entries.popitem(last=False)
            self.key_bytes -= dropped

    def clear(self) -> None:
        self._entries.clear()
        self.key_bytes = 0
        self.hits = self.misses = 0
