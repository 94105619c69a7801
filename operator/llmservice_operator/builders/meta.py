"""Object metadata every child shares: name, namespace, labels and the owner reference.

The owner reference makes the LLMService the controller of each child, so Kubernetes'
garbage collector deletes the children with it and kopf can map child events back to it.
"""

from __future__ import annotations

from typing import Any

from llmservice_operator.api import naming
from llmservice_operator.api.models import GROUP_VERSION, KIND, LLMService


def owner_references(service: LLMService) -> list[dict[str, Any]]:
    """The controller reference to ``service``, or none when it has no uid.

    An object read from a file (``render``) has never been stored by an API server and so
    has no uid; a reference without one would be rejected, so the children are rendered
    without it and the operator adds it when it applies them.
    """
    uid = service.metadata.uid
    if not uid:
        return []
    return [
        {
            "apiVersion": GROUP_VERSION,
            "kind": KIND,
            "name": service.metadata.name,
            "uid": uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def object_meta(
    service: LLMService, name: str, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """Metadata of a child called ``name``; namespace and owner reference only when known."""
    meta: dict[str, Any] = {"name": name}
    if service.metadata.namespace:
        meta["namespace"] = service.metadata.namespace
    meta["labels"] = naming.common_labels(service.metadata.name)
    if annotations:
        meta["annotations"] = dict(annotations)
    refs = owner_references(service)
    if refs:
        meta["ownerReferences"] = refs
    return meta
