"""A bound on reconcile passes in progress, with a say in who goes next.

A thousand LLMServices created together queue a thousand first passes (each writes three
children and an event). With a plain semaphore, the follow-up pass of the first
LLMService (its status, once its children are reported back) waits behind all of them:
every status of the batch came at the very end, long after the pods were ready. Here a
waiting pass with a lower priority number goes first, and passes of equal priority go in
the order they came.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncIterator


class PrioritySlots:
    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"slots must be at least 1, not {size}")
        self._free = size
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._live = 0  # waiters not yet served nor cancelled

    @property
    def waiting(self) -> int:
        return self._live

    @contextlib.asynccontextmanager
    async def hold(self, priority: int = 0) -> AsyncIterator[None]:
        if self._free > 0 and not self.waiting:
            self._free -= 1
        else:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (priority, next(self._order), future))
            self._live += 1
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._release()  # handed a slot, but cancelled before taking it
                else:
                    future.cancel()  # skipped by _release
                    self._live -= 1
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)  # the slot passes straight on
                self._live -= 1
                return
        self._free += 1
