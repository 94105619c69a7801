"""Desired children versus observed children: what to write, and what not to.

Pure: no API calls, so an idle operator provably writes nothing and every decision is
unit-tested. Three checks decide whether a child is written:

1. missing -> apply it;
2. the ``llmservice.dev/desired-hash`` annotation differs from the hash of the desired
   manifest -> the spec changed, apply it;
3. the live object no longer carries a field we set with the value we set (someone edited
   it: drift) -> apply it. The live object is compared *as a superset* of the desired one,
   so fields the API server fills in (defaults, status, uid, ...) never count as drift;
   quantities are compared by value ("1000m" equals "1").

The hash only short-cuts check 2; check 3 still runs whenever the live object is at hand,
so a hand edit that leaves our annotation alone is still found and restored.

An object that already has a child's name but is controlled by something else is never
taken over: the plan reports a name conflict and writes nothing. An orphan that carries
our labels for this very LLMService (for example left by ``kubectl delete
--cascade=orphan``) is adopted, as Kubernetes' own controllers adopt orphans.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from llmservice_operator.api import naming
from llmservice_operator.api.models import KIND

Obj = Mapping[str, Any]

HASH_ANNOTATION = "llmservice.dev/desired-hash"
# Map keys whose values are Kubernetes quantities.
_QUANTITY_PARENTS = frozenset({"requests", "limits"})
_QUANTITY_KEYS = frozenset({"sizeLimit", "storage"})
# Keys that identify the items of the lists we write (merge keys, as server-side apply
# treats those lists as maps).
_LIST_KEYS = ("name", "containerPort", "port", "mountPath", "type")


def manifest_hash(manifest: Obj) -> str:
    """A stable hash of a desired manifest (the hash annotation itself left out)."""
    meta = dict(manifest.get("metadata") or {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != HASH_ANNOTATION}
    meta["annotations"] = annotations
    canonical = json.dumps({**manifest, "metadata": meta}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def with_hash(manifest: Obj) -> dict[str, Any]:
    """The manifest with its hash annotation, as the operator applies it."""
    digest = manifest_hash(manifest)
    meta = dict(manifest.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), HASH_ANNOTATION: digest}
    return {**manifest, "metadata": meta}


def hash_of(obj: Obj | None) -> str | None:
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    value = annotations.get(HASH_ANNOTATION)
    return str(value) if value is not None else None


# --------------------------------------------------------------------------------------
# drift: is the live object a superset of the desired one?


def _quantity_equal(a: Any, b: Any) -> bool:
    try:
        return bool(parse_quantity(a) == parse_quantity(b))  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, ArithmeticError):
        return False


def _list_key(items: Sequence[Any]) -> str | None:
    if not items or not all(isinstance(i, Mapping) for i in items):
        return None
    for key in _LIST_KEYS:
        values = [i.get(key) for i in items]
        if all(v is not None for v in values) and len(set(map(str, values))) == len(values):
            return key
    return None


def first_difference(desired: Any, live: Any, path: str = "") -> str | None:
    """The path of the first field we set that the live object lacks or holds with
    another value; None when the live object carries everything we set."""
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return path or "."
        for key, want in desired.items():
            if want is None:
                continue
            sub = f"{path}.{key}" if path else str(key)
            if key not in live:
                return sub
            got = live[key]
            if (key in _QUANTITY_KEYS or path.rsplit(".", 1)[-1] in _QUANTITY_PARENTS) and (
                isinstance(want, str | int | float) and _quantity_equal(want, got)
            ):
                continue
            found = first_difference(want, got, sub)
            if found is not None:
                return found
        return None
    if isinstance(desired, list):
        if not isinstance(live, list):
            return path
        key = _list_key(desired)
        if key is not None and _list_key(live) == key:
            # Lists server-side apply merges by key: ours must be there; the order of
            # items and items other managers added do not matter to us.
            by_key = {str(item.get(key)): item for item in live}
            for item in desired:
                ident = str(item.get(key))
                sub = f"{path}[{key}={ident}]"
                if ident not in by_key:
                    return sub
                found = first_difference(item, by_key[ident], sub)
                if found is not None:
                    return found
            return None
        if len(desired) != len(live):
            return path
        for i, (want, got) in enumerate(zip(desired, live, strict=True)):
            found = first_difference(want, got, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if isinstance(desired, bool) or isinstance(live, bool):
        return None if desired is live else path
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return None if desired == live else path
    return None if desired == live else path


def drift(desired: Obj, live: Obj) -> str | None:
    """Where ``live`` departs from ``desired`` in metadata (labels, annotations, owner)
    or spec; None when it is as desired."""
    want_meta = desired.get("metadata") or {}
    live_meta = live.get("metadata") or {}
    for key in ("labels", "annotations"):
        found = first_difference(
            want_meta.get(key) or {}, live_meta.get(key) or {}, f"metadata.{key}"
        )
        if found is not None:
            return found
    for ref in want_meta.get("ownerReferences") or ():
        if not any(r.get("uid") == ref.get("uid") for r in live_meta.get("ownerReferences") or ()):
            return "metadata.ownerReferences"
    for key, want in desired.items():
        if key in ("apiVersion", "kind", "metadata", "status"):
            continue
        found = first_difference(want, live.get(key), key)
        if found is not None:
            return found
    return None


# --------------------------------------------------------------------------------------
# ownership


def controller_of(obj: Obj) -> Obj | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


def conflict(live: Obj, owner_name: str, owner_uid: str) -> str | None:
    """Why ``live`` must not be taken over by the LLMService, or None when it is ours
    (or an orphan carrying our labels for this very LLMService)."""
    meta = live.get("metadata") or {}
    what = f"{live.get('kind', 'object')} {meta.get('namespace', '')}/{meta.get('name', '')}"
    ref = controller_of(live)
    if ref is not None:
        if ref.get("uid") == owner_uid:
            return None
        if ref.get("kind") == KIND and ref.get("name") == owner_name:
            # A namesake LLMService that was deleted and created again: its children are
            # being garbage-collected; do not fight the collector, wait for it.
            return (
                f"{what} still belongs to a deleted LLMService {owner_name}; waiting for it to go"
            )
        return (
            f"{what} already exists and is controlled by {ref.get('kind')} {ref.get('name')}; "
            "rename the LLMService or remove that object"
        )
    obj_labels = meta.get("labels") or {}
    if (
        obj_labels.get(naming.MANAGED_BY_LABEL) == naming.MANAGED_BY
        and obj_labels.get(naming.SERVICE_LABEL) == owner_name
    ):
        return None  # our orphan: adopt it
    return (
        f"{what} already exists and is not managed by this LLMService; "
        "rename the LLMService or remove that object"
    )


# --------------------------------------------------------------------------------------
# the plan


@dataclass(frozen=True)
class LiveChild:
    """What is known of one child: the live object, or only its summary from a cache.

    ``body`` is the full live object when at hand (for the drift check); the summary
    fields are enough to decide on existence, ownership and spec changes."""

    kind: str
    name: str
    uid: str | None
    hash: str | None
    controller_uid: str | None = None
    controller: Obj | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    body: Obj | None = None
    namespace: str = ""

    @staticmethod
    def of(obj: Obj, with_body: bool = True) -> LiveChild:
        """From a live object; ``with_body=False`` for a summary that lacks the spec."""
        meta = obj.get("metadata") or {}
        ref = controller_of(obj)
        return LiveChild(
            kind=str(obj.get("kind", "")),
            name=str(meta.get("name", "")),
            uid=meta.get("uid"),
            hash=hash_of(obj),
            controller_uid=(ref or {}).get("uid"),
            controller=ref,
            labels=dict(meta.get("labels") or {}),
            body=obj if with_body else None,
            namespace=str(meta.get("namespace", "")),
        )

    def as_object(self) -> dict[str, Any]:
        """A minimal object for :func:`conflict`."""
        meta: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": dict(self.labels),
        }
        if self.controller is not None:
            meta["ownerReferences"] = [dict(self.controller)]
        return {"kind": self.kind, "metadata": meta}


@dataclass(frozen=True)
class Apply:
    manifest: dict[str, Any]
    why: str  # created | updated | restored
    detail: str = ""

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])


@dataclass(frozen=True)
class Delete:
    kind: str
    name: str
    uid: str | None
    why: str = "not wanted"


@dataclass(frozen=True)
class Plan:
    actions: list[Apply | Delete]
    conflicts: list[str]

    @property
    def idle(self) -> bool:
        return not self.actions and not self.conflicts


def plan(
    desired: Sequence[Obj],
    observed: Mapping[str, LiveChild | None],
    owner_name: str,
    owner_uid: str,
    unwanted: Sequence[LiveChild] = (),
) -> Plan:
    """The writes that bring the children to ``desired``.

    ``desired`` are manifests with their hash annotation (:func:`with_hash`);
    ``observed`` maps each desired kind to what is known of the live child (None when
    there is none); ``unwanted`` are live children of kinds no longer desired (the HPA
    after autoscaling was turned off), deleted when they are ours.
    """
    actions: list[Apply | Delete] = []
    conflicts: list[str] = []
    for manifest in desired:
        kind = str(manifest["kind"])
        live = observed.get(kind)
        if live is None:
            actions.append(Apply(dict(manifest), "created"))
            continue
        if live.controller_uid != owner_uid:
            problem = conflict(live.as_object(), owner_name, owner_uid)
            if problem is not None:
                conflicts.append(problem)
                continue
            actions.append(Apply(dict(manifest), "adopted"))
            continue
        if live.hash != hash_of(manifest):
            actions.append(Apply(dict(manifest), "updated"))
            continue
        if live.body is not None:
            where = drift(manifest, live.body)
            if where is not None:
                actions.append(Apply(dict(manifest), "restored", where))
    if conflicts:
        return Plan([], conflicts)
    for child in unwanted:
        if child.controller_uid == owner_uid:
            actions.append(Delete(child.kind, child.name, child.uid))
    return Plan(actions, [])


def applies_replicas(body: Obj, field_manager: str = naming.FIELD_MANAGER) -> bool:
    """Whether ``field_manager``'s server-side apply owns ``spec.replicas`` of ``body``."""
    for entry in (body.get("metadata") or {}).get("managedFields") or ():
        if entry.get("manager") != field_manager or entry.get("operation") != "Apply":
            continue
        spec_fields = (entry.get("fieldsV1") or {}).get("f:spec") or {}
        if "f:replicas" in spec_fields:
            return True
    return False


def replicas_handover(desired: Obj, live: Obj | None) -> dict[str, Any] | None:
    """The apply that hands a Deployment's replica count over to the autoscaler, or None.

    With autoscaling turned on we apply the Deployment without ``replicas`` (the HPA owns
    it). If our previous applies set ``replicas`` (autoscaling was off), server-side apply
    would remove the field and the Deployment would fall back to 1 pod until the HPA acts:
    a 4-pod service dropping to 1. Applying the live count first under a second field
    manager makes that manager a co-owner, so the field survives our apply and stays until
    the HPA's own writes take it over (the procedure Kubernetes documents for handing
    ``replicas`` to an HPA).
    """
    if live is None or desired.get("kind") != "Deployment" or "replicas" in desired["spec"]:
        return None
    replicas = (live.get("spec") or {}).get("replicas")
    if replicas is None or not live.get("appliesReplicas"):
        return None
    meta = desired["metadata"]
    return {
        "apiVersion": desired["apiVersion"],
        "kind": "Deployment",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "spec": {"replicas": replicas},
    }
