"""The work queue: one debounced worker per LLMService, retries, and a bound on passes.

Any event about an LLMService or one of its children marks it dirty (:meth:`WorkQueue.enqueue`);
its worker waits a moment, so that a burst of events costs one pass, then runs passes while
it stays dirty. A pass returns in how many seconds to look again (children were just
written, or a status write is held back); that wait ends early when news of the LLMService
arrives. Conflicts, throttling and server errors (:class:`kopf.TemporaryError` from
:mod:`.kube`) are retried with exponential backoff; a permanent error waits for the next
change.

Passes in progress at once are bounded (:class:`PrioritySlots`). A thousand LLMServices
created together would otherwise each build their manifests and wait for the API threads
holding them: a memory peak for no speed (the API thread pool is the limit anyway). Of the
passes waiting for a slot, follow-up passes go first: a thousand first passes (each writes
three children and an event) queued with a plain semaphore would hold every status of the
batch until the very end, long after the pods were ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import kopf

from llmservice_operator.runtime.cache import Key
from llmservice_operator.runtime.metrics import METRICS, Metrics

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0
# Seconds by which a follow-up pass may overtake a waiting first pass (PrioritySlots).
HEADSTART = 30.0

Pass = Callable[[Key], Awaitable[float | None]]


class WorkQueue:
    """Runs ``reconcile`` for each enqueued key once ``gate`` is set; ``priority`` ranks the
    passes waiting for one of ``concurrency`` slots (lower goes first)."""

    def __init__(
        self,
        reconcile: Pass,
        *,
        gate: asyncio.Event,
        priority: Callable[[Key], int],
        debounce: float = 0.3,
        concurrency: int = 16,
        metrics: Metrics = METRICS,
    ) -> None:
        self.reconcile = reconcile
        self.gate = gate
        self.priority = priority
        self.debounce = debounce
        self.metrics = metrics
        self.slots = PrioritySlots(concurrency)
        self._dirty: set[Key] = set()
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        # Set by new events of an LLMService whose worker is waiting to look again.
        self._wakeups: dict[Key, asyncio.Event] = {}
        self.stopping = False

    def enqueue(self, key: Key, delay: float | None = None) -> None:
        self._dirty.add(key)
        wakeup = self._wakeups.get(key)
        if wakeup is not None:
            wakeup.set()
        if key not in self._tasks and not self.stopping:
            self._tasks[key] = asyncio.create_task(self._work(key, delay), name=f"reconcile {key}")

    def forget(self, key: Key) -> None:
        self._dirty.discard(key)
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()
        self._wakeups.pop(key, None)

    def __contains__(self, key: Key) -> bool:
        """Whether a worker is pending or running for ``key``."""
        return key in self._tasks

    async def close(self) -> None:
        self.stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def idle(self) -> None:
        """Wait until no pass is pending (for tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def _work(self, key: Key, delay: float | None) -> None:
        attempt = 0
        try:
            await self.gate.wait()
            await asyncio.sleep(self.debounce if delay is None else delay)
            while key in self._dirty and not self.stopping:
                self._dirty.discard(key)
                pause, wake_early = self.debounce, False
                # From now on, news of this LLMService can end the wait after this pass.
                self._wakeups.setdefault(key, asyncio.Event()).clear()
                try:
                    async with self.slots.hold(self.priority(key)):
                        with self.metrics.timed():
                            again = await self.reconcile(key)
                    attempt = 0
                    if again is not None:
                        self._dirty.add(key)
                        pause, wake_early = again, True
                except kopf.TemporaryError as exc:
                    attempt += 1
                    self._dirty.add(key)
                    pause = min(MAX_BACKOFF, max(exc.delay or 1.0, 0.5 * 2**attempt))
                    self.metrics.reconciles.labels("error").inc()
                    log.warning("%s/%s: %s; retrying in %.1fs", key[0], key[1], exc, pause)
                except kopf.PermanentError as exc:
                    self.metrics.reconciles.labels("error").inc()
                    log.error("%s/%s: %s", key[0], key[1], exc)
                except Exception:
                    attempt += 1
                    self._dirty.add(key)
                    pause = min(MAX_BACKOFF, 0.5 * 2**attempt)
                    self.metrics.reconciles.labels("error").inc()
                    log.exception("%s/%s: reconcile failed; retrying in %.1fs", *key, pause)
                if key in self._dirty:
                    await self._pause(key, pause, wake_early)
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]
                self._wakeups.pop(key, None)

    async def _pause(self, key: Key, seconds: float, wake_early: bool) -> None:
        """Sleep before the next pass. A pass that only waits for time to pass (a status
        held back) ends early when something new is heard of the LLMService (since the
        last pass began), then waits the debounce so that a burst of events costs one
        pass; a retry after an error always waits its backoff."""
        wakeup = self._wakeups.get(key)
        if not wake_early or wakeup is None:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(wakeup.wait(), seconds)
        except TimeoutError:
            return
        await asyncio.sleep(self.debounce)


class PrioritySlots:
    """At most ``size`` holders at once. Waiting holders go in order of arrival, each
    priority number above 0 counting as ``headstart`` seconds of later arrival: a follow-up
    pass goes before first passes that came up to ``headstart`` seconds earlier, and no
    further. Strict priority starved first passes for minutes when follow-ups kept coming
    (an API server failing requests makes every pass retry): seen after a restart, with a
    third of the LLMServices never reconciled."""

    def __init__(self, size: int, headstart: float = HEADSTART) -> None:
        if size < 1:
            raise ValueError(f"slots must be at least 1, not {size}")
        self.headstart = headstart
        self._free = size
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []
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
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()
            due = loop.time() + priority * self.headstart
            heapq.heappush(self._waiting, (due, next(self._order), future))
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
