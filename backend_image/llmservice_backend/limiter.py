"""At most N chat requests upstream at once, a bounded queue behind them, 429 beyond it.

Ollama itself queues requests, but without a bound and without telling anyone: a pod that
says 429 quickly lets clients and load balancers go elsewhere instead of waiting minutes.
"""

from __future__ import annotations

import asyncio
import math
from typing import Literal

from .draining import shutting_down
from .errors import ApiError
from .metrics import Metrics


class ConcurrencyLimiter:
    def __init__(
        self,
        max_active: int,
        max_queued: int,
        queue_timeout: float,
        metrics: Metrics,
    ) -> None:
        self.max_active = max_active
        self.max_queued = max_queued
        self.queue_timeout = queue_timeout
        self.active = 0
        self.waiting = 0
        self._sem = asyncio.Semaphore(max_active)
        self._metrics = metrics
        # A moving average of how long a slot is held, to suggest a sensible Retry-After.
        self._avg_hold = 1.0
        # Set by close(): wakes every queued request to be answered 503.
        self._closed = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """The server is shutting down: queued and new requests get 503 + Retry-After at once."""
        self._closed.set()

    def retry_after(self) -> int:
        waves = (self.waiting + 1) / self.max_active
        return max(1, min(60, math.ceil(self._avg_hold * waves)))

    async def acquire(self) -> None:
        """Take a slot, waiting in the queue if needed; 429 when the queue is full.

        503 with Retry-After once close() was called, also for a request already queued.
        """
        if self._closed.is_set():
            self._metrics.rejected.labels("shutting_down").inc()
            raise shutting_down()
        if self._sem.locked():
            if self.waiting >= self.max_queued:
                self._metrics.rejected.labels("queue_full").inc()
                raise ApiError(
                    429,
                    f"too many requests: {self.active} running and {self.waiting} queued "
                    "(the limit); retry later",
                    code="rate_limit_exceeded",
                    headers={"Retry-After": str(self.retry_after())},
                )
            self.waiting += 1
            self._metrics.queue_depth.set(self.waiting)
            try:
                async with asyncio.timeout(self.queue_timeout):
                    await self._queued()
            except TimeoutError:
                self._metrics.rejected.labels("queue_timeout").inc()
                raise ApiError(
                    503,
                    f"no free slot after waiting {self.queue_timeout:g} s in the queue",
                    code="queue_timeout",
                    headers={"Retry-After": str(self.retry_after())},
                ) from None
            finally:
                self.waiting -= 1
                self._metrics.queue_depth.set(self.waiting)
        else:
            await self._sem.acquire()
        self.active += 1
        self._metrics.in_flight.set(self.active)

    async def _queued(self) -> None:
        """Wait for a slot or for close(), whichever comes first."""
        slot = asyncio.ensure_future(self._sem.acquire())
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait((slot, closed), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            # Cancelled (client gone, queue timeout): give back a slot granted meanwhile.
            if self._drop(slot, closed):
                self._sem.release()
            raise
        if not self._drop(slot, closed):
            self._metrics.rejected.labels("shutting_down").inc()
            raise shutting_down()
        # Else a slot came free as the shutdown began: use it.

    @staticmethod
    def _drop(slot: asyncio.Task[Literal[True]], closed: asyncio.Task[Literal[True]]) -> bool:
        """Stop both waits; whether the slot was granted (and is now held)."""
        closed.cancel()
        if not slot.done():
            # A pending Semaphore.acquire gives back a permit granted before it could run.
            slot.cancel()
            return False
        return not slot.cancelled() and slot.exception() is None

    def release(self, held_seconds: float) -> None:
        self.active -= 1
        self._metrics.in_flight.set(self.active)
        self._avg_hold += (held_seconds - self._avg_hold) * 0.1
        self._sem.release()
