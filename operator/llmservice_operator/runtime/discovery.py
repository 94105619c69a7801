"""Which of the optional child kinds the cluster serves: the Gateway API's HTTPRoute and
the Prometheus Operator's PodMonitor exist only where their CRDs are installed.

Asked by the reconcile pass for a kind a spec wants. A kind found served is believed for
``served_ttl`` seconds (CRDs are seldom removed, and an apply to a removed one fails with a
404 that makes the pass ask again at once); a kind found missing is asked about again
when a pass wants it and the last answer is at least ``missing_ttl`` seconds old, so an
operator installed before the Prometheus Operator picks it up within that time, while a
thousand LLMServices wanting monitors cost one discovery request per interval, not one
each.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import kopf

from llmservice_operator.runtime.kube import Kind, Kube

log = logging.getLogger(__name__)

SERVED_TTL = 600.0
MISSING_TTL = 30.0
FAILURE_TTL = 5.0  # a failed discovery is not asked again for this long by other passes


@dataclass(frozen=True)
class _Answer:
    plurals: tuple[str, ...] | None  # None: the group version is not served
    at: float

    def serves(self, kind: Kind) -> bool:
        return self.plurals is not None and kind.plural in self.plurals


class Discovery:
    """Cached answers to "does the API server serve this kind?"."""

    def __init__(
        self,
        kube: Kube,
        *,
        served_ttl: float = SERVED_TTL,
        missing_ttl: float = MISSING_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.served_ttl = served_ttl
        self.missing_ttl = missing_ttl
        self.clock = clock
        self._answers: dict[str, _Answer] = {}
        self._failed: dict[str, float] = {}  # when discovery last failed, unknown before
        self._lock = asyncio.Lock()

    async def served(self, kind: Kind) -> bool:
        """Whether ``kind`` is served; asks the API server only when the cached answer is
        stale. A failed request (other than a 404) keeps the last answer; with none, the pass
        fails temporarily (kopf.TemporaryError) rather than report the kind missing."""
        async with self._lock:  # concurrent passes share one request
            answer = self._answers.get(kind.api_version)
            now = self.clock()
            if answer is not None:
                ttl = self.served_ttl if answer.serves(kind) else self.missing_ttl
                if now - answer.at < ttl:
                    return answer.serves(kind)
            failed = self._failed.get(kind.api_version)
            if answer is None and failed is not None and now - failed < FAILURE_TTL:
                raise kopf.TemporaryError(f"{kind.api_version} could not be discovered")
            try:
                plurals = await self.kube.resources(kind.api_version)
            except (kopf.TemporaryError, kopf.PermanentError) as exc:
                log.warning("could not discover %s: %s", kind.api_version, exc)
                if answer is not None:
                    return answer.serves(kind)
                # Not known either way: neither "missing" (a false alarm to the user) nor a
                # request of its own for every waiting pass; the passes retry with backoff.
                self._failed[kind.api_version] = self.clock()
                raise kopf.TemporaryError(
                    f"{kind.api_version} could not be discovered: {exc}"
                ) from exc
            self._failed.pop(kind.api_version, None)
            fresh = _Answer(None if plurals is None else tuple(plurals), now)
            self._answers[kind.api_version] = fresh
            if answer is not None and answer.serves(kind) != fresh.serves(kind):
                log.info("%s %s", kind.kind, "is served now" if fresh.serves(kind) else "is gone")
            return fresh.serves(kind)

    def forget(self, kind: Kind) -> None:
        """Ask again next time (an apply of ``kind`` was answered 404)."""
        self._answers.pop(kind.api_version, None)

    def seconds_to_recheck(self, kind: Kind) -> float:
        """When a pass that found ``kind`` missing should look again."""
        answer = self._answers.get(kind.api_version)
        if answer is None:
            return 0.0
        return max(0.0, self.missing_ttl - (self.clock() - answer.at))
