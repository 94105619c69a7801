"""The PersistentVolumeClaim that holds the model files, when the operator is to create one.

Only ``storage.type: PersistentVolumeClaim`` with a size and no ``claimName`` gets a claim
from the operator; an existing claim named by the user is mounted but never owned (so it
is never garbage-collected with the LLMService), and EmptyDir storage needs no claim.
"""

from __future__ import annotations

from typing import Any

from llmservice_operator.api import naming
from llmservice_operator.api.models import LLMService
from llmservice_operator.builders.meta import object_meta


def creates_claim(service: LLMService) -> bool:
    """Whether the operator creates (and owns) the model claim of ``service``."""
    storage = service.spec.model.storage
    return (
        storage.type == "PersistentVolumeClaim"
        and storage.claim_name is None
        and storage.size is not None
    )


def model_claim_name(service: LLMService) -> str:
    """The claim the pods mount for PersistentVolumeClaim storage: the user's or ours."""
    storage = service.spec.model.storage
    return storage.claim_name or naming.model_claim_name(service.metadata.name)


def build_model_claim(service: LLMService) -> dict[str, Any]:
    """The model claim. Callers check :func:`creates_claim` first.

    The claim is owned by the LLMService like every other child: deleting the service
    deletes the downloaded models too. Users who want the models to outlive the service
    create the claim themselves and set ``claimName``.
    """
    storage = service.spec.model.storage
    if storage.size is None:
        raise ValueError("spec.model.storage.size: a claim the operator creates needs a size")
    spec: dict[str, Any] = {
        "accessModes": [storage.access_mode],
        "resources": {"requests": {"storage": storage.size}},
    }
    if storage.storage_class_name is not None:
        spec["storageClassName"] = storage.storage_class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": object_meta(service, model_claim_name(service)),
        "spec": spec,
    }
