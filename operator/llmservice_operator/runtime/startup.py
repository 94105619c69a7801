"""Start-up sync: nothing is reconciled before the watches have reported what existed.

A restarted operator must not recreate a child only because that child's event came after
its LLMService's. So before kopf's watches start (kopf starts them once the start-up
handlers are done), :class:`Startup` lists every watched kind (identities only, in pages)
and holds every reconcile until each listed object has been reported by a watch
(:class:`StartupSync` keeps count). The LLMServices themselves go into the cache at once: a
child reported before its LLMService could not be compared with what it should be, and an
edit made while the operator was down would go unnoticed.

An object deleted between the listing and its watch is never reported: when nothing new
has been reported for a while, the ones still missing are looked up. Whatever happens,
reconciling starts after :data:`SYNC_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

import kopf

from llmservice_operator.api import naming
from llmservice_operator.api.models import KIND
from llmservice_operator.runtime.cache import Cache, Key, Obj, ObjectId, service_summary
from llmservice_operator.runtime.kube import LLMSERVICE, POD, Kube, http_status
from llmservice_operator.runtime.watched import WATCHED, Watch

log = logging.getLogger(__name__)

SYNC_TIMEOUT = 300.0  # reconcile anyway if the watches have not caught up by then
LIST_ATTEMPTS = 4  # start-up listing of one kind: tries before going on without it
MISSING_CHECKED_AT_ONCE = 100


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


class Startup:
    """The listing at start, and the wait for the watches to report what it found.

    ``forget`` is called for an LLMService that was listed (and cached) but is gone by the
    time it is looked up again."""

    def __init__(self, kube: Kube, cache: Cache, forget: Callable[[Key], None]) -> None:
        self.kube = kube
        self.cache = cache
        self.forget = forget
        self.sync = StartupSync()
        # Set once the cache holds everything that existed at start; no pass runs before.
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.stopping = False

    async def begin(self, namespaces: Iterable[str | None]) -> None:
        """List every watched kind once, then wait (in the background) until the watches
        have reported each listed object."""
        expected: list[tuple[ObjectId, str]] = []
        for watch in WATCHED:
            for namespace in namespaces:
                found = await self._list_with_retries(watch, namespace)
                if found is not None:
                    kind = watch.kind.kind
                    expected.extend(((kind, ns, name), uid) for ns, name, uid in found)
        self.sync.expect(expected)
        log.info("%d existing objects to hear of before reconciling", len(expected))
        self._task = asyncio.create_task(self._await_sync(), name="startup sync")

    def heard(self, kind: str, body: Obj) -> None:
        """A watch has reported ``body``."""
        meta = body.get("metadata") or {}
        oid = (kind, str(meta.get("namespace") or ""), str(meta.get("name")))
        self.sync.heard(oid, str(meta.get("uid")))

    async def close(self) -> None:
        self.stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _list_with_retries(
        self, watch: Watch, namespace: str | None
    ) -> list[tuple[str, str, str]] | None:
        """The identities of one kind (LLMServices also cached whole); None when the API
        server would not list them after a few attempts."""
        last: Exception | None = None
        for attempt in range(LIST_ATTEMPTS):
            try:
                found: list[tuple[str, str, str]] = []
                async for items in self.kube.list_pages(watch.kind, namespace, watch.selector):
                    for item in items:
                        meta = item.get("metadata") or {}
                        ns, name = str(meta.get("namespace") or ""), str(meta.get("name"))
                        found.append((ns, name, str(meta.get("uid"))))
                        if watch.kind is LLMSERVICE:
                            self.cache.put(KIND, (ns, name), item, service_summary(item))
                return found
            except (kopf.TemporaryError, kopf.PermanentError) as exc:
                if http_status(exc) == 404 and watch.kind is not LLMSERVICE:
                    # A kind the cluster does not serve (HTTPRoute, PodMonitor without
                    # their CRDs): none exist, none to wait for.
                    log.debug("%s are not served: none to wait for", watch.kind.plural)
                    return []
                last = exc
                # 410: a continue token too old; worth listing again from the start
                if isinstance(exc, kopf.PermanentError) and http_status(exc) != 410:
                    break
                await asyncio.sleep(0.5 * 2**attempt)
        log.warning(
            "could not list %s at start (%s): reconciling without waiting for them; an "
            "existing child may be applied once more",
            watch.kind.plural,
            last,
        )
        return None

    async def _await_sync(self) -> None:
        started = time.monotonic()
        try:
            while not self.sync.complete and not self.stopping:
                if time.monotonic() - started > SYNC_TIMEOUT:
                    missing = self.sync.missing()
                    log.warning(
                        "the watches have not reported %d objects after %.0f s (%s); "
                        "reconciling anyway",
                        len(missing),
                        SYNC_TIMEOUT,
                        ", ".join(f"{k} {ns}/{n}" for (k, ns, n), _ in missing[:10]),
                    )
                    break
                if self.sync.stalled():
                    try:
                        await self._recheck_missing()
                    except Exception:
                        log.exception("checking objects missing since start-up failed")
                        self.sync.stalled_since_now()
                await asyncio.sleep(0.2)
        finally:
            self.synced.set()  # whatever happened, reconciling must not wait for ever

    async def _recheck_missing(self) -> None:
        """Objects listed at start but not reported since: gone in between, most likely."""
        kinds = {watch.kind.kind: watch.kind for watch in WATCHED}
        for (kind, namespace, name), uid in self.sync.missing()[:MISSING_CHECKED_AT_ONCE]:
            try:
                live = await self.kube.get(kinds[kind], namespace, name)
            except kopf.TemporaryError:
                continue
            except kopf.PermanentError:
                live = None
            now = str((live or {}).get("metadata", {}).get("uid") or "") or None
            if kind == POD.kind and live is not None and not _labelled(live):
                now = None  # no longer one of ours: the watch will not report it
            self.sync.gone((kind, namespace, name), now)
            if now != uid and kind == KIND and self.cache.remove(KIND, (namespace, name), uid):
                self.forget((namespace, name))  # cached from the listing, gone since
        self.sync.stalled_since_now()


def _labelled(pod: Obj) -> bool:
    return bool(((pod.get("metadata") or {}).get("labels") or {}).get(naming.SERVICE_LABEL))
