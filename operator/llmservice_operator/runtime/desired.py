"""What an LLMService should consist of: its spec read through the models, once per
generation, and its children built from it when asked for.

The API server enforced the CRD (schema and CEL rules) when the LLMService was written, so
the spec is read through the models only
(:func:`~llmservice_operator.api.validation.parse_llmservice`); what they still refuse (say,
a CRD installed without its rules) is reported as InvalidSpec. So is what the API server
would refuse in the children but the CRD cannot check within its cost budget
(:mod:`~llmservice_operator.api.childchecks`: whole units of extended resources, requests
equal to limits, ...): found here, it is named on the LLMService's own field, and no child
is written. The children are built again
on each use: a fraction of a millisecond, where keeping them would cost some 10 KB per
LLMService.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from llmservice_operator.api.childchecks import check_children
from llmservice_operator.api.models import LLMService
from llmservice_operator.api.validation import InvalidLLMServiceError, parse_llmservice
from llmservice_operator.builders import build_children
from llmservice_operator.core.planner import with_hash
from llmservice_operator.runtime.cache import Key, Obj

MESSAGE_ERRORS = 5  # field errors named in an InvalidSpec message


@dataclass(frozen=True)
class Desired:
    """One generation of one LLMService: the spec as the models read it, or why not."""

    uid: str
    generation: int
    service: LLMService | None
    error: str | None  # the InvalidSpec message when ``service`` is None
    # Why the API server refused a child built from this generation (a 422, 400 or 403
    # that asking again cannot change): reported as InvalidSpec, nothing applied again
    # until the spec changes.
    refused: str | None = None
    # spec.replicas changed (``kubectl scale``) in this generation while the autoscaler
    # owns the pod count: the user is told once that it has no effect.
    replicas_ignored: str | None = None

    @property
    def invalid(self) -> str | None:
        """What is wrong with this generation's spec, if anything."""
        return self.error or self.refused

    @property
    def children(self) -> list[dict[str, Any]]:
        """The manifests to apply, each with its hash annotation."""
        if self.service is None:
            return []
        return [with_hash(m) for m in build_children(self.service)]

    def manifest(self, kind: str) -> dict[str, Any] | None:
        return next((m for m in self.children if m["kind"] == kind), None)


def _replicas_ignored(before: Desired, after: Desired) -> str | None:
    if before.service is None or after.service is None:
        return None
    old, new = before.service.spec, after.service.spec
    if not new.autoscaling.enabled or old.replicas == new.replicas:
        return None
    auto = new.autoscaling
    return (
        f"spec.replicas changed to {new.replicas}, which has no effect: the autoscaler keeps "
        f"between {auto.min_replicas} and {auto.max_replicas} pods (change "
        "spec.autoscaling.minReplicas/maxReplicas, or set spec.autoscaling.enabled to false)"
    )


class DesiredStates:
    """The :class:`Desired` of each LLMService, read again when its generation changes."""

    def __init__(self) -> None:
        self._known: dict[Key, Desired] = {}

    def of(self, key: Key, svc: Obj) -> Desired:
        meta = svc.get("metadata") or {}
        uid, generation = str(meta.get("uid")), int(meta.get("generation") or 0)
        known = self._known.get(key)
        if known is not None and (known.uid, known.generation) == (uid, generation):
            return known
        body = {k: svc[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in svc}
        try:
            desired = Desired(uid, generation, check_children(parse_llmservice(body)), None)
        except InvalidLLMServiceError as exc:
            message = "; ".join(str(e) for e in exc.errors[:MESSAGE_ERRORS])
            desired = Desired(uid, generation, None, message or "the spec is invalid")
        if known is not None and known.uid == uid:
            desired = replace(desired, replicas_ignored=_replicas_ignored(known, desired))
        self._known[key] = desired
        return desired

    def take_replicas_ignored(self, key: Key) -> str | None:
        """The ReplicasIgnored message of the current generation, handed out once."""
        known = self._known.get(key)
        if known is None or known.replicas_ignored is None:
            return None
        self._known[key] = replace(known, replicas_ignored=None)
        return known.replicas_ignored

    def refuse(self, key: Key, message: str) -> Desired:
        """Remember that the API server refused a child of the current generation."""
        refused = replace(self._known[key], refused=message)
        self._known[key] = refused
        return refused

    def __contains__(self, key: Key) -> bool:
        return key in self._known

    def forget(self, key: Key) -> None:
        self._known.pop(key, None)
