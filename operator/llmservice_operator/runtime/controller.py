"""The controller: the runtime's parts put together, and what kopf's handlers call.

Why not kopf's create/update/resume handlers: they keep their diff base in an annotation on
every LLMService, one extra write per change, and an idle operator must write nothing. The
reconcile here is level-triggered instead: any event about an LLMService or one of its
children queues it; its worker compares the desired children with what the watches
reported and writes only what differs. Create, update and resume are the same pass.

The parts, each in its module:

- :mod:`.intake`: events in; the cache, our own writes until the watch echoes them, the
  drift memo;
- :mod:`.startup`: nothing is reconciled before the watches have reported what existed at
  start, so a restarted operator sees every existing child at once;
- :mod:`.queue`: one debounced worker per LLMService, retries with backoff, a bound on
  passes in progress with follow-up passes first;
- :mod:`.desired`: each LLMService's spec read through the models, once per generation;
- :mod:`.reconciler`: the pass, observe -> validate -> desired -> plan -> apply -> status;
- :mod:`.kube`: the API calls.
"""

from __future__ import annotations

from collections.abc import Iterable

from llmservice_operator.core import status
from llmservice_operator.runtime.cache import Cache, Key, Obj
from llmservice_operator.runtime.desired import DesiredStates
from llmservice_operator.runtime.discovery import MISSING_TTL, Discovery
from llmservice_operator.runtime.intake import Intake
from llmservice_operator.runtime.kube import Kube
from llmservice_operator.runtime.metrics import METRICS, Metrics
from llmservice_operator.runtime.modelprobe import ModelProbe
from llmservice_operator.runtime.queue import WorkQueue
from llmservice_operator.runtime.reconciler import Reconciler
from llmservice_operator.runtime.startup import Startup


class Controller:
    def __init__(
        self,
        kube: Kube,
        debounce: float = 0.3,
        status_interval: float = 1.0,
        metrics: Metrics = METRICS,
        concurrency: int = 16,
        first_status_delay: float = 0.0,
        capacity_grace: float = status.CAPACITY_GRACE,
        restart_window: float = status.RESTART_WINDOW,
        model_progress_interval: float = 0.0,
        discovery_recheck: float = MISSING_TTL,
    ) -> None:
        self.kube = kube
        self.metrics = metrics
        self.cache = Cache()
        self.desired = DesiredStates()
        self.intake = Intake(self.cache, self.desired, wake=self.enqueue, forget=self.forget)
        self.startup = Startup(kube, self.cache, forget=self.forget)
        self.reconciler = Reconciler(
            kube,
            self.intake,
            self.desired,
            debounce=debounce,
            status_interval=status_interval,
            first_status_delay=first_status_delay,
            capacity_grace=capacity_grace,
            restart_window=restart_window,
            model_probe=ModelProbe(model_progress_interval),
            metrics=metrics,
            discovery=Discovery(kube, missing_ttl=discovery_recheck),
        )
        self.queue = WorkQueue(
            self.reconciler.reconcile,
            gate=self.startup.synced,
            priority=self.priority,
            debounce=debounce,
            concurrency=concurrency,
            metrics=metrics,
        )

    async def start(self, namespaces: Iterable[str | None]) -> None:
        """List what exists; passes begin once the watches have reported all of it."""
        await self.startup.begin(namespaces)

    def on_event(self, kind: str, event_type: str | None, body: Obj) -> None:
        """An event of a watched object (kopf's raw event handlers)."""
        self.startup.heard(kind, body)
        self.intake.on_event(kind, event_type, body)

    def enqueue(self, key: Key) -> None:
        self.queue.enqueue(key)

    def priority(self, key: Key) -> int:
        """Follow-up passes (an LLMService seen before: children written, a status to
        report) go before first passes."""
        return 0 if key in self.desired else 1

    def forget(self, key: Key) -> None:
        """An LLMService is gone: nothing of it is kept."""
        self.queue.forget(key)
        self.desired.forget(key)
        self.intake.forget(key)
        self.reconciler.forget(key)
        self.metrics.set_phase(key, None)

    async def close(self) -> None:
        await self.queue.close()
        await self.startup.close()
        await self.reconciler.model_probe.close()

    async def idle(self) -> None:
        """Wait until no pass is pending (for tests and benchmarks)."""
        await self.queue.idle()
