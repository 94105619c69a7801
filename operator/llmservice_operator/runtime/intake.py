"""Event intake: what the watches report, folded into what a reconcile pass reads.

Every event of a watched object comes here (:meth:`Intake.on_event`). Its summary goes into
the :class:`~.cache.Cache` and the LLMService it concerns is queued for a pass: an
LLMService's own events, its children's (and those of any object under a child's name),
its pods'.

Kept here besides the cache:

- our own writes until the watch has caught up with them (an apply's answer, a deletion, a
  status write), so a pass never acts on a view older than its own last write, and the
  echo of a status write queues no pass;
- the drift memo: a child's event is compared with the desired manifest when it arrives
  (the full body is at hand only then), and a drifted body is kept for the pass to restore.
  Most events are the echo of our own apply or a change of status only; a fingerprint of
  the compared parts, as last found desired, skips comparing those again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from llmservice_operator.api import naming
from llmservice_operator.api.models import KIND
from llmservice_operator.core import status
from llmservice_operator.core.planner import LiveChild, controller_of, drift, hash_of
from llmservice_operator.runtime.cache import (
    Cache,
    Key,
    Obj,
    ObjectId,
    child_summary,
    newer,
    pack,
    resource_version,
    service_summary,
    unpack,
)
from llmservice_operator.runtime.desired import Desired, DesiredStates
from llmservice_operator.runtime.kube import POD

log = logging.getLogger(__name__)


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


class Intake:
    """``wake`` queues a pass of an LLMService; ``forget`` drops everything the operator
    keeps of one that is gone."""

    def __init__(
        self,
        cache: Cache,
        desired: DesiredStates,
        wake: Callable[[Key], None],
        forget: Callable[[Key], None],
    ) -> None:
        self.cache = cache
        self.desired = desired
        self.wake = wake
        self.forget_service = forget
        # summaries (packed) from our apply answers, until the watch has caught up
        self._applied: dict[ObjectId, str] = {}
        self._deleted: dict[ObjectId, str | None] = {}  # uid we deleted
        self._drifted: dict[ObjectId, Obj] = {}  # live bodies found drifted
        # what the API server rewrites of what we send: (desired hash, the field)
        self._ignored_drift: dict[ObjectId, tuple[str | None, str]] = {}
        # fingerprints of children last found as desired
        self._as_desired: dict[ObjectId, str] = {}
        self._pod_owners: dict[str, Key] = {}  # pod uid -> its LLMService
        # resourceVersion and (packed) status of each LLMService after our last status write
        self._written: dict[Key, tuple[str | None, str]] = {}

    # ----------------------------------------------------------------------------------
    # events

    def on_event(self, kind: str, event_type: str | None, body: Obj) -> None:
        if kind == KIND:
            self._service_event(event_type, body)
        elif kind == POD.kind:
            self._pod_event(event_type, body)
        else:
            self._child_event(kind, event_type, body)

    def _service_event(self, event_type: str | None, body: Obj) -> None:
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        if event_type == "DELETED":
            # Only if it is the one we know: its namesake's ADDED may have come first.
            if self.cache.remove(KIND, key, str(meta.get("uid"))):
                self.forget_service(key)
            return
        self.cache.put(KIND, key, body, service_summary(body))
        written = self._written.get(key)
        if written is not None and written[0] == meta.get("resourceVersion"):
            return  # the echo of our own status write
        self.wake(key)

    def _child_event(self, kind: str, event_type: str | None, body: Obj) -> None:
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        owner = owner_of(kind, body)
        if owner is None:
            return
        key = (namespace, owner)
        oid = (kind, namespace, name)
        uid = str(meta.get("uid"))
        if event_type == "DELETED":
            if self._deleted.get(oid) == uid:
                del self._deleted[oid]
            if not self.cache.remove(kind, (namespace, name), uid):
                return  # a namesake has taken its place: its state stays
            for state in (self._applied, self._drifted, self._as_desired, self._ignored_drift):
                state.pop(oid, None)
        else:
            self.cache.put(kind, (namespace, name), body, child_summary(body))
            mine = self._applied.get(oid)
            if mine is not None:
                ours, seen = resource_version(unpack(mine)), resource_version(body)
                if ours is not None and seen is not None and seen >= ours:
                    del self._applied[oid]  # the watch has caught up with our write
            if self._is_drifted(key, oid, body):
                self._drifted[oid] = body
            else:
                self._drifted.pop(oid, None)
        if (KIND, key) in self.cache:
            self.wake(key)

    def _pod_event(self, event_type: str | None, body: Obj) -> None:
        """Pods are watched with our label as a server-side selector: a pod whose label is
        removed is reported DELETED (as it leaves the selection), with the label gone, so
        the LLMService it belonged to is remembered by uid."""
        meta = body.get("metadata") or {}
        uid = str(meta.get("uid"))
        owner = (meta.get("labels") or {}).get(naming.SERVICE_LABEL)
        key = (str(meta.get("namespace")), str(owner)) if owner else None
        before = self._pod_owners.get(uid)
        if before is not None and (event_type == "DELETED" or before != key):
            self.cache.remove_pod(before, uid)
            del self._pod_owners[uid]
            if (KIND, before) in self.cache:
                self.wake(before)
        if key is None or event_type == "DELETED":
            return
        self.cache.put_pod(key, body, status.project_pod(body))
        self._pod_owners[uid] = key
        if (KIND, key) in self.cache:
            self.wake(key)

    def _is_drifted(self, key: Key, oid: ObjectId, body: Obj) -> bool:
        """Whether someone else changed what we set on a child. Most events of a child
        are the echo of our own apply or a change of its status only: those are known
        from the parts drift compares being as they were when last found as desired.
        (A verdict depends on those parts only: the desired manifest they are compared
        with is the one named by the hash annotation among them.)"""
        seen = fingerprint(body)
        if self._as_desired.get(oid) == seen:
            return False
        svc = self.service(key)
        if svc is None:
            return False
        drifted = self._compare(self.desired.of(key, svc), oid, body)
        if drifted is False:
            self._as_desired[oid] = seen
        return bool(drifted)

    def _compare(self, desired: Desired, oid: ObjectId, body: Obj) -> bool | None:
        """True or False when compared with the desired manifest; None when not ours to
        compare now (another hash: a spec change the reconcile applies; another owner)."""
        manifest = desired.manifest(oid[0])
        if manifest is None or hash_of(body) != hash_of(manifest):
            return None
        ref = controller_of(body)
        if ref is None or ref.get("uid") != desired.uid:
            return None
        where = drift(manifest, body)
        ignored = self._ignored_drift.get(oid)
        return where is not None and ignored != (hash_of(manifest), where)

    # ----------------------------------------------------------------------------------
    # what a pass reads

    def service(self, key: Key) -> Obj | None:
        return self.cache.get(KIND, key)

    def child(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The newest known summary of a child: from the watch or from our own write."""
        oid = (kind, namespace, name)
        seen = self.cache.get(kind, (namespace, name))
        if seen is not None and self._deleted.get(oid) == (seen.get("metadata") or {}).get("uid"):
            seen = None  # we deleted it; the watch has not said so yet
        mine = self._applied.get(oid)
        if mine is None:
            return seen
        applied = unpack(mine)
        best = newer(seen, applied)
        if best is seen:
            del self._applied[oid]  # the watch has caught up with our write
        return best

    def live_child(self, kind: str, namespace: str, name: str) -> LiveChild | None:
        """A child as the planner reads it: its summary (hash and owner tell whether it is
        as desired), or the full body when its last event was found drifted."""
        summary = self.child(kind, namespace, name)
        if summary is None:
            return None
        drifted = self._drifted.get((kind, namespace, name))
        if drifted is not None and newer(drifted, summary) is drifted:
            return LiveChild.of(drifted)  # the full body: the plan finds the drift
        return LiveChild.of({**summary, "kind": kind}, with_body=False)

    def pods(self, key: Key) -> list[dict[str, Any]]:
        return self.cache.pods(key)

    def current_status(self, key: Key, svc: Obj) -> dict[str, Any]:
        """The LLMService's status: as the watch reports it, or as our last write left it
        when the watch has not caught up."""
        written = self._written.get(key)
        if written is None:
            return dict(svc.get("status") or {})
        ours = {"metadata": {"resourceVersion": written[0]}, "status": unpack(written[1])}
        source = newer(svc, ours)
        return dict((source or {}).get("status") or {})

    # ----------------------------------------------------------------------------------
    # what a pass wrote

    def applied(self, manifest: Obj, live: Obj) -> None:
        """Our apply's answer: the newest we know of the child until the watch reports it;
        the watch's echo of it needs no compare."""
        meta = manifest["metadata"]
        oid = (str(manifest["kind"]), str(meta["namespace"]), str(meta["name"]))
        self._applied[oid] = pack(child_summary(live))
        self._drifted.pop(oid, None)
        self._deleted.pop(oid, None)
        left = drift(manifest, live)
        if left is not None:
            # The server rewrites this field of what we send: comparing it again would
            # re-apply for ever. Remember it, say so once.
            self._ignored_drift[oid] = (hash_of(manifest), left)
            log.warning("%s %s/%s: the API server changes %s", *oid, left)
        self._as_desired[oid] = fingerprint(live)

    def deleted(self, kind: str, namespace: str, name: str, uid: str | None) -> None:
        oid = (kind, namespace, name)
        self._deleted[oid] = uid
        self._applied.pop(oid, None)

    def status_written(self, key: Key, live: Obj, sent: Obj) -> None:
        rv = (live.get("metadata") or {}).get("resourceVersion")
        self._written[key] = (rv, pack(live.get("status") or sent))

    def forget(self, key: Key) -> None:
        self._written.pop(key, None)
