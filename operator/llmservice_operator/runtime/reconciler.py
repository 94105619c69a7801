"""The reconcile pass: one LLMService's children and status brought up to date.

Level-triggered and idempotent: create, update and resume are the same pass, and a pass
over an LLMService that is as desired writes nothing. It reads what the watches reported
(:mod:`.intake`, never the API server), decides with the pure core (the models, the
builders, :mod:`~llmservice_operator.core.planner`, :mod:`~llmservice_operator.core.status`)
and writes through :mod:`.kube`:

    observe -> validate -> desired -> plan -> apply -> status

After writing children a pass writes no status: it asks to look again a moment later, once
the watch has reported the children back, so the status is computed from what exists
rather than from what was asked for. Status writes of one LLMService are at least
``status_interval`` apart, so the pods, the Deployment status and the HPA status changing
together cost one write; a new LLMService's first status waits up to
``first_status_delay`` for its pods (anything a user must see, Degraded or Failed, goes out
at once). An invalid spec or a name conflict is written to the status once, with one
Warning event, and waits for the next change; so is a child the API server refuses for
good (a 422, 400 or 403: the spec got past the CRD but makes a child Kubernetes will not
take), with the server's message naming the field.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import kopf

from llmservice_operator.api import naming
from llmservice_operator.core import exposure, planner, status
from llmservice_operator.runtime.cache import Key, Obj
from llmservice_operator.runtime.desired import Desired, DesiredStates
from llmservice_operator.runtime.discovery import Discovery
from llmservice_operator.runtime.intake import Intake
from llmservice_operator.runtime.kube import CHILD_KINDS, HPA, HTTPROUTE, PDB, POD_MONITOR, Kube
from llmservice_operator.runtime.kube import http_status as kube_status
from llmservice_operator.runtime.metrics import METRICS, Metrics
from llmservice_operator.runtime.modelprobe import ModelProbe

# Children that exist only while the spec asks for them, all named after the LLMService.
OPTIONAL_KINDS = (
    HPA.kind,
    PDB.kind,
    "NetworkPolicy",
    "Ingress",
    HTTPROUTE.kind,
    POD_MONITOR.kind,
)
# Of those, the kinds served only where their CRDs are installed.
OPTIONAL_CRD_KINDS = (HTTPROUTE, POD_MONITOR)
OPTIONAL_CRD_KINDS_BY_NAME = {k.kind: k for k in OPTIONAL_CRD_KINDS}

EVENT_REASONS = {
    "created": "Created",
    "recreated": "Recreated",
    "updated": "Updated",
    "restored": "Restored",
    "adopted": "Adopted",
    "deleted": "Deleted",
}


class Reconciler:
    def __init__(
        self,
        kube: Kube,
        intake: Intake,
        desired: DesiredStates,
        *,
        debounce: float = 0.3,
        status_interval: float = 1.0,
        first_status_delay: float = 0.0,
        capacity_grace: float = status.CAPACITY_GRACE,
        restart_window: float = status.RESTART_WINDOW,
        model_probe: ModelProbe | None = None,
        metrics: Metrics = METRICS,
        discovery: Discovery | None = None,
    ) -> None:
        self.kube = kube
        # Whether the cluster serves the optional kinds (HTTPRoute, PodMonitor).
        self.discovery = discovery or Discovery(kube)
        self.intake = intake
        self.desired = desired
        self.debounce = debounce
        # Least time between two status writes of one LLMService: changes that arrive
        # together (pods, Deployment status, HPA status) cost one write, not three.
        self.status_interval = status_interval
        # How long a new LLMService may go without a status while its pods start: one
        # whose pods are ready by then gets one status write (Ready), not two (Pending,
        # then Ready).
        self.first_status_delay = first_status_delay
        self.capacity_grace = capacity_grace
        self.restart_window = restart_window
        # Asks starting pods how far their model got (0 s interval: never).
        self.model_probe = model_probe or ModelProbe(interval=0)
        self.metrics = metrics
        self._last_write: dict[Key, float] = {}
        self._children_created: dict[Key, float] = {}

    async def reconcile(self, key: Key) -> float | None:
        """One pass. Returns in how many seconds to look again (children were written, or
        a status write is held back), or None."""
        namespace, name = key
        # observe: the LLMService as the watch reported it
        svc = self.intake.service(key)
        if svc is None or (svc.get("metadata") or {}).get("deletionTimestamp"):
            return None  # gone or going; garbage collection removes the children
        # validate: the spec through the models, once per generation
        desired = self.desired.of(key, svc)
        if desired.service is None or desired.refused:
            self.metrics.reconciles.labels("invalid").inc()
            return await self._report(key, svc, desired)
        ignored = self.desired.take_replicas_ignored(key)
        if ignored is not None:
            await self.kube.post_event(
                svc, type_="Warning", reason=status.REPLICAS_IGNORED, message=ignored
            )
        # desired: the children the spec makes; observe them as the watches reported them
        manifests, missing = await self._served_only(desired.children)
        live = {
            m["kind"]: self.intake.live_child(m["kind"], namespace, m["metadata"]["name"])
            for m in manifests
        }
        unwanted = self._unwanted(key, {m["kind"] for m in manifests} | missing)
        # plan: what to write, if anything
        plan = planner.plan(manifests, live, name, desired.uid, unwanted)
        if plan.conflicts:
            self.metrics.reconciles.labels("conflict").inc()
            return await self._report(key, svc, desired, "; ".join(plan.conflicts))
        # apply; the status comes once the watch has reported the children back
        if plan.actions:
            try:
                await self._apply(key, svc, plan.actions)
            except kopf.PermanentError as exc:
                # Retrying the same request cannot help: say so and wait for a new spec.
                refused = self.desired.refuse(key, f"the API server refused {exc}")
                self.metrics.reconciles.labels("invalid").inc()
                return await self._report(key, svc, refused)
            self.metrics.reconciles.labels("ok").inc()
            return max(self.debounce, self.status_interval)
        # status
        self.metrics.reconciles.labels("ok").inc()
        return await self._report(key, svc, desired, missing=missing)

    def forget(self, key: Key) -> None:
        self._last_write.pop(key, None)
        self._children_created.pop(key, None)
        self.model_probe.forget(key)

    def _unwanted(self, key: Key, wanted: set[str]) -> list[planner.LiveChild]:
        """The optional children the spec no longer asks for (the HPA with autoscaling
        off, the PodDisruptionBudget of a single pod, a route, monitor or policy turned
        off): to be deleted if they are ours. All are named after the LLMService."""
        namespace, name = key
        found = []
        for kind in OPTIONAL_KINDS:
            if kind in wanted:
                continue
            child = self.intake.live_child(kind, namespace, name)
            if child is not None:
                found.append(child)
        return found

    async def _served_only(
        self, manifests: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], set[str]]:
        """The manifests whose kind the cluster serves, and the kinds it does not: a
        PodMonitor without the Prometheus Operator, an HTTPRoute without the Gateway API.
        Those are reported by a condition, not applied (the rest of the service goes on)."""
        kept: list[dict[str, Any]] = []
        missing: set[str] = set()
        for manifest in manifests:
            kind = OPTIONAL_CRD_KINDS_BY_NAME.get(manifest["kind"])
            if kind is not None and not await self.discovery.served(kind):
                missing.add(kind.kind)
                continue
            kept.append(manifest)
        return kept, missing

    async def _apply(
        self, key: Key, svc: Obj, actions: Iterable[planner.Apply | planner.Delete]
    ) -> None:
        """Carry out the plan, then tell the user what was done (one event per kind of
        change)."""
        namespace, _ = key
        done: dict[str, list[str]] = {}
        gone: list[str] = []
        had_status = bool((svc.get("status") or {}).get("conditions"))
        if not had_status:
            self._children_created.setdefault(key, time.monotonic())
        for action in actions:
            if isinstance(action, planner.Apply):
                child_name = action.manifest["metadata"]["name"]
                handover = planner.replicas_handover(
                    action.manifest, self.intake.child(action.kind, namespace, child_name)
                )
                if handover is not None:
                    await self.kube.apply(handover, field_manager=naming.HANDOVER_FIELD_MANAGER)
                try:
                    live = await self.kube.apply(action.manifest)
                except kopf.PermanentError as exc:
                    optional = OPTIONAL_CRD_KINDS_BY_NAME.get(action.kind)
                    if optional is None or kube_status(exc) != 404:
                        raise
                    # Its CRD was removed since discovery said it was served: the next pass
                    # asks again and reports it missing; the rest of the plan goes on.
                    self.discovery.forget(optional)
                    gone.append(action.kind)
                    continue
                self.intake.applied(action.manifest, live)
                why = "recreated" if action.why == "created" and had_status else action.why
                detail = f" ({action.detail} had been changed)" if action.detail else ""
                done.setdefault(why, []).append(f"{action.kind} {child_name}{detail}")
            else:
                kind = CHILD_KINDS[action.kind]
                await self.kube.delete(kind, namespace, action.name, action.uid)
                self.intake.deleted(action.kind, namespace, action.name, action.uid)
                done.setdefault("deleted", []).append(f"{action.kind} {action.name}")
        for why, what in done.items():
            await self.kube.post_event(
                svc, type_="Normal", reason=EVENT_REASONS[why], message=f"{why} {', '.join(what)}"
            )
        if gone:
            raise kopf.TemporaryError(f"{', '.join(gone)} no longer served", delay=1.0)

    async def _report(
        self,
        key: Key,
        svc: Obj,
        desired: Desired,
        name_conflict: str | None = None,
        missing: set[str] | frozenset[str] = frozenset(),
    ) -> float | None:
        """Write the status if it changed; the seconds to wait instead when the last write
        was too recent, or when a new LLMService's first status is worth holding back."""
        namespace, name = key
        current = self.intake.current_status(key, svc)
        spec = desired.service.spec if desired.service is not None else None
        hpa = self.intake.child(HPA.kind, namespace, naming.hpa_name(name))
        if spec is not None and not spec.autoscaling.enabled:
            hpa = None
        pods = self.intake.pods(key)
        if spec is not None:
            await self.model_probe.refresh(key, pods, spec.backend.port)
        observed = status.Observed(
            name=name,
            namespace=namespace,
            generation=desired.generation,
            spec=spec,
            deployment=self.intake.child("Deployment", namespace, naming.deployment_name(name)),
            hpa=hpa,
            pods=pods,
            previous_conditions=list(current.get("conditions") or ()),
            now=status.format_time(datetime.now(UTC)),
            invalid_spec=desired.invalid,
            name_conflict=name_conflict,
            restart_window=self.restart_window,
            capacity_grace=self.capacity_grace,
            model_answers=self.model_probe.answers(key),
        )
        new = status.compute_status(observed)
        if spec is not None and desired.invalid is None and name_conflict is None:
            extra = exposure.exposure_conditions(spec, name, missing, self.discovery.missing_ttl)
            new["conditions"] = [
                *new["conditions"],
                *status.stamp_conditions(
                    extra, observed.previous_conditions, observed.generation, observed.now
                ),
            ]
        self.metrics.set_phase(key, new.get("phase"))
        # A grace or a window running out changes the status with nothing else new.
        later = status.next_change(observed)
        if later is not None:
            later += 1.0  # past the second the status is stamped with
        # Starting pods are asked again how far their model got.
        if self.model_probe.answers(key):
            ask = max(self.debounce, self.model_probe.seconds_to_next(key))
            later = ask if later is None else min(later, ask)
        # A kind the spec wants but the cluster lacks: look again when discovery may.
        for kind in missing:
            again = max(self.debounce, self.discovery.seconds_to_recheck(CHILD_KINDS[kind]))
            later = again if later is None else min(later, again)
        if status.same_status(current, new):
            return later
        wait = self._wait_before_writing(key, current, new)
        if wait > 0:
            return wait
        self._children_created.pop(key, None)
        patch = status.merge_patch(current, new)
        live = await self.kube.patch_status(namespace, name, patch)
        self._last_write[key] = time.monotonic()
        self.intake.status_written(key, live, patch)
        for type_, reason, message in status.transitions(current, new):
            await self.kube.post_event(svc, type_=type_, reason=reason, message=message)
        for reason, message in exposure.exposure_warnings(
            current.get("conditions") or (), new["conditions"]
        ):
            await self.kube.post_event(svc, type_="Warning", reason=reason, message=message)
        return later

    def _wait_before_writing(self, key: Key, current: Obj, new: Obj) -> float:
        now = time.monotonic()
        wait = self._last_write.get(key, -1e9) + self.status_interval - now
        if not current.get("conditions") and not status.settled(new):
            created = self._children_created.get(key)
            if created is not None:
                wait = max(wait, created + self.first_status_delay - now)
        return wait
