"""The reconcile loop: one debounced worker per LLMService, fed by kopf's watches.

Why not kopf's create/update/resume handlers: they keep their diff base in an annotation on
every LLMService, one extra write per change, and an idle operator must write nothing. The
reconcile here is level-triggered instead: any event about an LLMService or one of its
children marks it dirty; its worker waits a moment (so a burst of events costs one pass),
then compares the desired children with what the watches report (the :class:`Cache`,
complete before the first pass: see :class:`~llmservice_operator.runtime.cache.StartupSync`, so a
restarted operator sees every existing child at once) and writes only what differs.
Create, update and resume are the same pass.

After writing children the worker does not write a status at once: it looks again a
moment later, when the API server has reported the children back, so the status is
computed from what exists rather than from what was asked for. Status writes of one
LLMService are at least ``status_interval`` apart, so the pods, the Deployment status and
the HPA status changing together cost one write (and a controller that is quick to start
pods costs no intermediate one).

Retries: conflicts, throttling and server errors (:class:`kopf.TemporaryError` from
:mod:`kube`) retry with exponential backoff; an invalid spec or a name conflict is written
to the status once, with one Warning event, and waits for the next change.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from llmservice_operator.api import naming
from llmservice_operator.api.models import (
    DEGRADED,
    KIND,
    READY,
    LLMService,
    LLMServiceStatus,
)
from llmservice_operator.api.validation import InvalidLLMServiceError, parse_llmservice
from llmservice_operator.builders import build_children
from llmservice_operator.core import status
from llmservice_operator.core.planner import (
    Apply,
    Delete,
    Observed,
    applies_replicas,
    drift,
    hash_of,
    plan,
    replicas_handover,
    with_hash,
)
from llmservice_operator.runtime.cache import (
    Cache,
    ObjectId,
    StartupSync,
    pack,
    resource_version,
    unpack,
)
from llmservice_operator.runtime.kube import (
    CHILD_KINDS,
    HPA,
    LLMSERVICE,
    POD,
    ChildKind,
    Kube,
    http_status,
)
from llmservice_operator.runtime.metrics import METRICS, Metrics
from llmservice_operator.runtime.slots import PrioritySlots

log = logging.getLogger(__name__)
Obj = Mapping[str, Any]
Key = tuple[str, str]  # namespace, name
ChildKey = tuple[str, str, str]  # kind, namespace, name

# What the operator watches (handlers.py registers the same watches with kopf): the
# LLMServices, every object of a child's kind (one of them could be in a child's way), and
# the pods of LLMServices.
POD_SELECTOR = naming.SERVICE_LABEL  # the label is present
WATCHED: tuple[tuple[ChildKind, str | None], ...] = (
    (LLMSERVICE, None),
    *((ck, None) for ck in CHILD_KINDS.values()),
    (POD, POD_SELECTOR),
)
MAX_BACKOFF = 30.0
SYNC_TIMEOUT = 300.0  # reconcile anyway if the watches have not caught up by then
LIST_ATTEMPTS = 4  # start-up listing of one kind: tries before going on without it


def service_summary(body: Obj) -> dict[str, Any]:
    meta = body.get("metadata") or {}
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {
            k: meta[k]
            for k in (
                "name",
                "namespace",
                "uid",
                "generation",
                "resourceVersion",
                "deletionTimestamp",
            )
            if meta.get(k) is not None
        },
        "spec": body.get("spec") or {},
        "status": body.get("status") or {},
    }


def child_summary(body: Obj) -> dict[str, Any]:
    """Identity, ownership and hash of a child, plus what status reads of it."""
    meta = body.get("metadata") or {}
    obj_labels = meta.get("labels") or {}
    ref = next((r for r in meta.get("ownerReferences") or () if r.get("controller")), None)
    summary: dict[str, Any] = {
        "kind": body.get("kind"),
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "labels": {
                k: obj_labels[k]
                for k in (naming.MANAGED_BY_LABEL, naming.SERVICE_LABEL)
                if k in obj_labels
            },
            "annotations": {},
            "ownerReferences": [dict(ref)] if ref else [],
        },
    }
    digest = hash_of(body)
    if digest is not None:
        summary["metadata"]["annotations"] = {"llmservice.dev/desired-hash": digest}
    kind = body.get("kind")
    if kind == "Deployment":
        projected = status.project_deployment(body)
        summary["spec"], summary["status"] = projected["spec"], projected["status"]
        summary["metadata"]["generation"] = meta.get("generation")
        if applies_replicas(body):
            summary["appliesReplicas"] = True
    elif kind == "HorizontalPodAutoscaler":
        projected = status.project_hpa(body)
        summary["spec"], summary["status"] = projected["spec"], projected["status"]
    return summary


def _labelled(pod: Obj) -> bool:
    return bool(((pod.get("metadata") or {}).get("labels") or {}).get(naming.SERVICE_LABEL))


def fingerprint(body: Obj) -> str:
    """A digest of what drift compares (labels, annotations, owners and everything but
    metadata and status): equal digests, equal verdicts."""
    meta = body.get("metadata") or {}
    compared = [
        meta.get("labels"),
        meta.get("annotations"),
        meta.get("ownerReferences"),
        {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "metadata", "status")},
    ]
    text = json.dumps(compared, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def owner_of(kind: str, body: Obj) -> str | None:
    """The LLMService a child (or an object in a child's way) belongs to, by label or name."""
    meta = body.get("metadata") or {}
    owner = (meta.get("labels") or {}).get(naming.SERVICE_LABEL)
    if owner:
        return str(owner)
    name = str(meta.get("name") or "")
    if kind == "PersistentVolumeClaim":
        return name.removesuffix("-models") if name.endswith("-models") else None
    return name or None


def newer(a: Obj | None, b: Obj | None) -> Obj | None:
    """Of two versions of one object, the one with the later resourceVersion (``a`` when
    they cannot be ordered: resourceVersions are opaque, the emulator's and etcd's are
    integers)."""
    if a is None or b is None:
        return a if b is None else b
    ra, rb = resource_version(a), resource_version(b)
    if ra is not None and rb is not None and rb > ra:
        return b
    return a


def same_status(a: Obj | None, b: Obj | None) -> bool:
    """Equal once read through the status model (CRD defaults cannot make them differ)."""
    try:
        left = LLMServiceStatus.model_validate(a or {}).to_api()
        right = LLMServiceStatus.model_validate(b or {}).to_api()
    except ValidationError:
        return False
    return left == right


@dataclass
class _Spec:
    """A spec read through the models (the CRD's rules were enforced by the API server at
    admission), cached per generation. The desired children are built again when needed:
    that takes a fraction of a millisecond, and keeping them would cost some 10 KB per
    LLMService."""

    uid: str
    generation: int
    service: LLMService | None
    error: str | None

    @property
    def desired(self) -> list[dict[str, Any]]:
        if self.service is None:
            return []
        return [with_hash(m) for m in build_children(self.service)]

    def manifest(self, kind: str) -> dict[str, Any] | None:
        return next((m for m in self.desired if m["kind"] == kind), None)


class Controller:
    def __init__(
        self,
        kube: Kube,
        debounce: float = 0.3,
        status_interval: float = 1.0,
        metrics: Metrics = METRICS,
        concurrency: int = 16,
        first_status_delay: float = 0.0,
    ) -> None:
        self.kube = kube
        self.debounce = debounce
        # Least time between two status writes of one LLMService: changes that arrive
        # together (pods, Deployment status, HPA status) cost one write, not three.
        self.status_interval = status_interval
        # How long a new LLMService may go without a status while its pods start: one
        # whose pods are ready by then gets one status write (Ready), not two (Pending,
        # then Ready). Anything worth a user's attention (Degraded, Failed) is written
        # at once.
        self.first_status_delay = first_status_delay
        self._children_created: dict[Key, float] = {}
        # Set by new events of an LLMService whose worker is waiting to look again.
        self._wakeups: dict[Key, asyncio.Event] = {}
        self._last_write: dict[Key, float] = {}
        self.metrics = metrics
        # Reconciles in progress at once. A thousand LLMServices created together would
        # otherwise each build their manifests and wait for the API threads holding them:
        # a memory peak for no speed (the API thread pool is the limit anyway).
        self._slots = PrioritySlots(concurrency)
        self.cache = Cache()
        self.sync = StartupSync()
        # Set once the cache holds everything that existed at start; no pass runs before.
        self.synced = asyncio.Event()
        self._sync_task: asyncio.Task[None] | None = None
        self._dirty: set[Key] = set()
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self._specs: dict[Key, _Spec] = {}
        # summaries (packed) from our apply answers, until the watch has caught up
        self._applied: dict[ChildKey, str] = {}
        self._deleted: dict[ChildKey, str | None] = {}  # uid we deleted
        self._drifted: dict[ChildKey, Obj] = {}  # live bodies found drifted
        self._ignored_drift: dict[ChildKey, tuple[str | None, str]] = {}
        # children last found as desired: (desired manifest, fingerprint of the child)
        self._as_desired: dict[ChildKey, str] = {}
        self._pod_owners: dict[str, Key] = {}  # pod uid -> its LLMService
        # resourceVersion and (packed) status of each LLMService after our last status write
        self._written: dict[Key, tuple[str | None, str]] = {}
        self.stopping = False

    # ----------------------------------------------------------------------------------
    # start-up: know everything that exists before the first pass

    async def list_existing(self, namespaces: Iterable[str | None]) -> None:
        """List every watched kind once, before kopf's watches start, and wait (in the
        background) until the watches have reported each listed object.

        The LLMServices themselves go into the cache at once: a child reported before its
        LLMService could not be compared with what it should be, and an edit made while
        the operator was down would go unnoticed."""
        expected: list[tuple[ObjectId, str]] = []
        for ck, selector in WATCHED:
            for namespace in namespaces:
                found = await self._list_with_retries(ck, namespace, selector)
                if found is not None:
                    expected.extend(((ck.kind, ns, name), uid) for ns, name, uid in found)
        self.sync.expect(expected)
        log.info("%d existing objects to hear of before reconciling", len(expected))
        self._sync_task = asyncio.create_task(self._await_sync(), name="startup sync")

    async def _list_with_retries(
        self, ck: ChildKind, namespace: str | None, selector: str | None
    ) -> list[tuple[str, str, str]] | None:
        """The identities of one kind (LLMServices also cached whole); None when the API
        server would not list them after a few attempts."""
        for attempt in range(LIST_ATTEMPTS):
            try:
                found: list[tuple[str, str, str]] = []
                async for items in self.kube.list_pages(ck, namespace, selector):
                    for item in items:
                        meta = item.get("metadata") or {}
                        ns, name = str(meta.get("namespace") or ""), str(meta.get("name"))
                        found.append((ns, name, str(meta.get("uid"))))
                        if ck is LLMSERVICE:
                            self.cache.put(KIND, (ns, name), item, service_summary(item))
                return found
            except (kopf.TemporaryError, kopf.PermanentError) as exc:
                last = exc
                # 410: a continue token too old; worth listing again from the start
                if isinstance(exc, kopf.PermanentError) and http_status(exc) != 410:
                    break
                await asyncio.sleep(0.5 * 2**attempt)
        log.warning(
            "could not list %s at start (%s): reconciling without waiting for them; an "
            "existing child may be applied once more",
            ck.plural,
            last,
        )
        return None

    async def _await_sync(self) -> None:
        started = time.monotonic()
        try:
            while not self.sync.complete and not self.stopping:
                if time.monotonic() - started > SYNC_TIMEOUT:
                    log.warning(
                        "the watches have not reported %d objects after %.0f s; reconciling anyway",
                        len(self.sync.missing()),
                        SYNC_TIMEOUT,
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
        kinds = {ck.kind: ck for ck, _ in WATCHED}
        for (kind, namespace, name), uid in self.sync.missing()[:100]:
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

    def _heard(self, kind: str, body: Obj) -> None:
        meta = body.get("metadata") or {}
        oid = (kind, str(meta.get("namespace") or ""), str(meta.get("name")))
        self.sync.heard(oid, str(meta.get("uid")))

    # ----------------------------------------------------------------------------------
    # inputs from kopf

    def on_service_event(self, event_type: str | None, body: Obj) -> None:
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        self._heard(KIND, body)
        if event_type == "DELETED":
            # Only if it is the one we know: its namesake's ADDED may have come first.
            if self.cache.remove(KIND, key, str(meta.get("uid"))):
                self.forget(key)
            return
        self.cache.put(KIND, key, body, service_summary(body))
        written = self._written.get(key)
        if written is not None and written[0] == meta.get("resourceVersion"):
            return  # the echo of our own status write
        self.enqueue(key)

    def on_child_event(self, kind: str, event_type: str | None, body: Obj) -> None:
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        self._heard(kind, body)
        owner = owner_of(kind, body)
        if owner is None:
            return
        key = (namespace, owner)
        ckey = (kind, namespace, name)
        uid = str(meta.get("uid"))
        if event_type == "DELETED":
            if self._deleted.get(ckey) == uid:
                del self._deleted[ckey]
            if not self.cache.remove(kind, (namespace, name), uid):
                return  # a namesake has taken its place: its state stays
            for state in (self._applied, self._drifted, self._as_desired, self._ignored_drift):
                state.pop(ckey, None)
        else:
            self.cache.put(kind, (namespace, name), body, child_summary(body))
            mine = self._applied.get(ckey)
            if mine is not None:
                ours, seen = resource_version(unpack(mine)), resource_version(body)
                if ours is not None and seen is not None and seen >= ours:
                    del self._applied[ckey]  # the watch has caught up with our write
            if self._is_drifted(key, ckey, body):
                self._drifted[ckey] = body
            else:
                self._drifted.pop(ckey, None)
        if (KIND, key) in self.cache:
            self.enqueue(key)

    def on_pod_event(self, event_type: str | None, body: Obj) -> None:
        """Pods are watched with our label as a server-side selector: a pod whose label is
        removed is reported DELETED (as it leaves the selection), with the label gone, so
        the LLMService it belonged to is remembered by uid."""
        meta = body.get("metadata") or {}
        self._heard(POD.kind, body)
        uid = str(meta.get("uid"))
        owner = (meta.get("labels") or {}).get(naming.SERVICE_LABEL)
        key = (str(meta.get("namespace")), str(owner)) if owner else None
        before = self._pod_owners.get(uid)
        if before is not None and (event_type == "DELETED" or before != key):
            self.cache.remove_pod(before, uid)
            del self._pod_owners[uid]
            if (KIND, before) in self.cache:
                self.enqueue(before)
        if key is None or event_type == "DELETED":
            return
        self.cache.put_pod(key, body, status.project_pod(body))
        self._pod_owners[uid] = key
        if (KIND, key) in self.cache:
            self.enqueue(key)

    def _is_drifted(self, key: Key, ckey: ChildKey, body: Obj) -> bool:
        """Whether someone else changed what we set on a child. Most events of a child
        are the echo of our own apply or a change of its status only: those are known
        from the parts drift compares being as they were when last found as desired.
        (A verdict depends on those parts only: the desired manifest they are compared
        with is the one named by the hash annotation among them.)"""
        seen = fingerprint(body)
        if self._as_desired.get(ckey) == seen:
            return False
        svc = self._service(key)
        if svc is None:
            return False
        drifted = self._compare(self._spec(key, svc), ckey, body)
        if drifted is False:
            self._as_desired[ckey] = seen
        return bool(drifted)

    def _compare(self, spec: _Spec, ckey: ChildKey, body: Obj) -> bool | None:
        """True or False when compared with the desired manifest; None when not ours to
        compare now (another hash: a spec change the reconcile applies; another owner)."""
        manifest = spec.manifest(ckey[0])
        if manifest is None or hash_of(body) != hash_of(manifest):
            return None
        ref = next(
            (
                r
                for r in (body.get("metadata") or {}).get("ownerReferences") or ()
                if r.get("controller")
            ),
            None,
        )
        if ref is None or ref.get("uid") != spec.uid:
            return None
        where = drift(manifest, body)
        ignored = self._ignored_drift.get(ckey)
        return where is not None and ignored != (hash_of(manifest), where)

    # ----------------------------------------------------------------------------------
    # the work queue

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
        self._specs.pop(key, None)
        self._written.pop(key, None)
        self._last_write.pop(key, None)
        self._children_created.pop(key, None)
        self._wakeups.pop(key, None)
        self.metrics.set_phase(key, None)

    async def close(self) -> None:
        self.stopping = True
        tasks = list(self._tasks.values())
        if self._sync_task is not None:
            tasks.append(self._sync_task)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def idle(self) -> None:
        """Wait until no reconcile is pending (for tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def _work(self, key: Key, delay: float | None) -> None:
        attempt = 0
        try:
            await self.synced.wait()
            await asyncio.sleep(self.debounce if delay is None else delay)
            while key in self._dirty and not self.stopping:
                self._dirty.discard(key)
                pause, wake_early = self.debounce, False
                # From now on, news of this LLMService can end the wait after this pass.
                self._wakeups.setdefault(key, asyncio.Event()).clear()
                try:
                    # Follow-up passes (children written, status to report) go first.
                    async with self._slots.hold(0 if key in self._specs else 1):
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

    # ----------------------------------------------------------------------------------
    # reading the cache

    def _service(self, key: Key) -> Obj | None:
        return self.cache.get(KIND, key)

    def _child(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The newest known summary of a child: from the watch or from our own write."""
        ckey = (kind, namespace, name)
        seen = self.cache.get(kind, (namespace, name))
        if seen is not None and self._deleted.get(ckey) == (seen.get("metadata") or {}).get("uid"):
            seen = None  # we deleted it; the watch has not said so yet
        mine = self._applied.get(ckey)
        if mine is None:
            return seen
        applied = unpack(mine)
        best = newer(seen, applied)
        if best is seen:
            del self._applied[ckey]  # the watch has caught up with our write
        return best

    def _pods(self, key: Key) -> list[dict[str, Any]]:
        return self.cache.pods(key)

    def _spec(self, key: Key, svc: Obj) -> _Spec:
        meta = svc.get("metadata") or {}
        uid, generation = str(meta.get("uid")), int(meta.get("generation") or 0)
        cached = self._specs.get(key)
        if cached is not None and (cached.uid, cached.generation) == (uid, generation):
            return cached
        body = {k: svc[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in svc}
        try:
            service = parse_llmservice(body)
        except InvalidLLMServiceError as exc:
            message = "; ".join(str(e) for e in exc.errors[:5])
            spec = _Spec(uid, generation, None, message or "the spec is invalid")
        else:
            spec = _Spec(uid, generation, service, None)
        self._specs[key] = spec
        return spec

    # ----------------------------------------------------------------------------------
    # one pass

    async def reconcile(self, key: Key) -> float | None:
        """Bring one LLMService's children and status up to date. Returns in how many
        seconds to look again (children were written, or a status write is held back),
        or None."""
        svc = self._service(key)
        if svc is None:
            self.forget(key)
            return None
        meta = svc.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return None  # garbage collection removes the children
        namespace, name = key
        spec = self._spec(key, svc)
        if spec.service is None:
            self.metrics.reconciles.labels("invalid").inc()
            return await self._write_status(key, svc, spec, name_conflict=None)

        observed: dict[str, Observed | None] = {}
        desired = spec.desired
        for manifest in desired:
            kind = str(manifest["kind"])
            summary = self._child(kind, namespace, manifest["metadata"]["name"])
            drifted = self._drifted.get((kind, namespace, manifest["metadata"]["name"]))
            if drifted is not None and (summary is None or newer(drifted, summary) is not drifted):
                drifted = None  # restored (or replaced) since
            if summary is None:
                observed[kind] = None
            elif drifted is not None:
                observed[kind] = Observed.of(drifted)  # the full body: plan finds the drift
            else:
                observed[kind] = Observed.of({**summary, "kind": kind}, with_body=False)
        unwanted: list[Observed] = []
        if not spec.service.spec.autoscaling.enabled:
            hpa = self._child(HPA.kind, namespace, naming.hpa_name(name))
            if hpa is not None:
                unwanted.append(Observed.of({**hpa, "kind": HPA.kind}, with_body=False))

        result = plan(desired, observed, name, spec.uid, unwanted)
        if result.conflicts:
            self.metrics.reconciles.labels("conflict").inc()
            return await self._write_status(key, svc, spec, "; ".join(result.conflicts))
        if result.actions:
            await self._act(key, svc, result.actions)
            self.metrics.reconciles.labels("ok").inc()
            return max(self.debounce, self.status_interval)
        self.metrics.reconciles.labels("ok").inc()
        return await self._write_status(key, svc, spec, name_conflict=None)

    async def _act(self, key: Key, svc: Obj, actions: Iterable[Apply | Delete]) -> None:
        namespace, _ = key
        done: dict[str, list[str]] = {}
        had_status = bool((svc.get("status") or {}).get("conditions"))
        if not had_status:
            self._children_created.setdefault(key, time.monotonic())
        for action in actions:
            if isinstance(action, Apply):
                child_name = action.manifest["metadata"]["name"]
                ckey = (action.kind, namespace, child_name)
                handover = replicas_handover(
                    action.manifest, self._child(action.kind, namespace, child_name)
                )
                if handover is not None:
                    await self.kube.apply(handover, field_manager=naming.HANDOVER_FIELD_MANAGER)
                live = await self.kube.apply(action.manifest)
                self._applied[ckey] = pack(child_summary(live))
                self._drifted.pop(ckey, None)
                self._deleted.pop(ckey, None)
                left = drift(action.manifest, live)
                if left is not None:
                    # The server rewrites this field of what we send: comparing it again
                    # would re-apply for ever. Remember it, say so once.
                    self._ignored_drift[ckey] = (hash_of(action.manifest), left)
                    log.warning("%s %s/%s: the API server changes %s", *ckey, left)
                # the watch's echo of this answer needs no compare
                self._as_desired[ckey] = fingerprint(live)
                why = action.why
                if why == "created" and had_status:
                    why = "recreated"
                detail = f" ({action.detail} had been changed)" if action.detail else ""
                done.setdefault(why, []).append(f"{action.kind} {child_name}{detail}")
            else:
                ck = CHILD_KINDS[action.kind]
                await self.kube.delete(ck, namespace, action.name, action.uid)
                self._deleted[(action.kind, namespace, action.name)] = action.uid
                self._applied.pop((action.kind, namespace, action.name), None)
                done.setdefault("deleted", []).append(f"{action.kind} {action.name}")
        reasons = {
            "created": "Created",
            "recreated": "Recreated",
            "updated": "Updated",
            "restored": "Restored",
            "adopted": "Adopted",
            "deleted": "Deleted",
        }
        for why, what in done.items():
            await self.kube.post_event(
                svc, type_="Normal", reason=reasons[why], message=f"{why} {', '.join(what)}"
            )

    async def _write_status(
        self, key: Key, svc: Obj, spec: _Spec, name_conflict: str | None
    ) -> float | None:
        """Write the status if it changed; the seconds to wait instead when the last write
        was too recent."""
        namespace, name = key
        current = self._current_status(key, svc)
        hpa = self._child(HPA.kind, namespace, naming.hpa_name(name))
        if spec.service is not None and not spec.service.spec.autoscaling.enabled:
            hpa = None
        observed = status.Observed(
            name=name,
            namespace=namespace,
            generation=spec.generation,
            spec=spec.service.spec if spec.service is not None else None,
            deployment=self._child("Deployment", namespace, naming.deployment_name(name)),
            hpa=hpa,
            pods=self._pods(key),
            previous_conditions=list(current.get("conditions") or ()),
            now=status.format_time(datetime.now(UTC)),
            invalid_spec=spec.error,
            name_conflict=name_conflict,
        )
        new = status.compute_status(observed)
        self.metrics.set_phase(key, new.get("phase"))
        if same_status(current, new):
            return None
        now = time.monotonic()
        wait = self._last_write.get(key, -1e9) + self.status_interval - now
        if not current.get("conditions") and not status.settled(new):
            created = self._children_created.get(key)
            if created is not None:
                wait = max(wait, created + self.first_status_delay - now)
        if wait > 0:
            return wait
        self._children_created.pop(key, None)
        patch: dict[str, Any] = dict(new)
        for stale in set(current) - set(new):
            patch[stale] = None
        live = await self.kube.patch_status(namespace, name, patch)
        self._last_write[key] = time.monotonic()
        rv = (live.get("metadata") or {}).get("resourceVersion")
        self._written[key] = (rv, pack(live.get("status") or patch))
        for type_, reason, message in transitions(current, new):
            await self.kube.post_event(svc, type_=type_, reason=reason, message=message)
        return None

    def _current_status(self, key: Key, svc: Obj) -> dict[str, Any]:
        written = self._written.get(key)
        if written is None:
            return dict(svc.get("status") or {})
        ours = {"metadata": {"resourceVersion": written[0]}, "status": unpack(written[1])}
        source = newer(svc, ours)
        return dict((source or {}).get("status") or {})


def transitions(old: Obj, new: Obj) -> list[tuple[str, str, str]]:
    """The events a user should see for a status change: (type, reason, message)."""
    out: list[tuple[str, str, str]] = []
    old_ready = status.condition(old, READY) or {}
    new_ready = status.condition(new, READY) or {}
    old_deg = status.condition(old, DEGRADED) or {}
    new_deg = status.condition(new, DEGRADED) or {}
    blocked = (status.INVALID_SPEC, status.NAME_CONFLICT)
    reason = new_ready.get("reason")
    if reason in blocked:
        if (old_ready.get("reason"), old_ready.get("message")) != (
            reason,
            new_ready.get("message"),
        ):
            out.append(("Warning", str(reason), str(new_ready.get("message", ""))))
        return out
    if new_deg.get("status") == "True" and (
        old_deg.get("status") != "True" or old_deg.get("reason") != new_deg.get("reason")
    ):
        out.append(("Warning", "Degraded", f"{new_deg.get('reason')}: {new_deg.get('message')}"))
    elif old_deg.get("status") == "True" and new_deg.get("status") != "True":
        out.append(("Normal", "Recovered", f"no longer {old_deg.get('reason')}"))
    before, after = old.get("desiredReplicas"), new.get("desiredReplicas")
    if isinstance(before, int) and isinstance(after, int) and before != after and old_ready:
        who = "autoscaler" if (new.get("autoscaling") or {}).get("state") != "Disabled" else "spec"
        out.append(("Normal", "Scaled", f"desired pods {before} -> {after} ({who})"))
    return out
