"""Names, labels and selectors shared by the builders, the status and the handlers."""

from __future__ import annotations

from llmservice_operator.api.models import API_GROUP

FIELD_MANAGER = "llmservice-operator"
# Co-owns a Deployment's replica count for a moment when autoscaling is turned on, so the
# count survives until the HPA takes it over (reconcile.replicas_handover).
HANDOVER_FIELD_MANAGER = "llmservice-operator-handover"
APP_NAME = "llmservice"
PART_OF = "llmservice-operator"
MANAGED_BY = "llmservice-operator"
COMPONENT = "llm-server"

NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
PART_OF_LABEL = "app.kubernetes.io/part-of"
# Pods also carry the owning LLMService's name under our own group, so a selector never
# matches pods of another tool that happens to use the same instance label.
SERVICE_LABEL = f"{API_GROUP}/llmservice"

BACKEND_CONTAINER = "backend"
OLLAMA_CONTAINER = "ollama"
MODEL_VOLUME = "models"


def selector_labels(name: str) -> dict[str, str]:
    """Labels that select an LLMService's pods; immutable once a Deployment exists."""
    return {
        NAME_LABEL: APP_NAME,
        INSTANCE_LABEL: name,
        SERVICE_LABEL: name,
    }


def common_labels(name: str) -> dict[str, str]:
    """Labels on every child object."""
    return {
        **selector_labels(name),
        COMPONENT_LABEL: COMPONENT,
        MANAGED_BY_LABEL: MANAGED_BY,
        PART_OF_LABEL: PART_OF,
    }


def selector_string(name: str) -> str:
    """The pods' selector as the text ``status.selector`` and list calls use."""
    return ",".join(f"{k}={v}" for k, v in sorted(selector_labels(name).items()))


def deployment_name(name: str) -> str:
    """The Deployment's name: one place to change should children ever get suffixes."""
    return name


def service_name(name: str) -> str:
    """The Service's name (also the endpoint's host): one place to change, as above."""
    return name


def hpa_name(name: str) -> str:
    """The HPA's name: callers say which child they mean, even while all names agree."""
    return name


def pdb_name(name: str) -> str:
    """The PodDisruptionBudget's name."""
    return name


def model_claim_name(name: str) -> str:
    """The claim the operator creates for PersistentVolumeClaim storage with a size."""
    return f"{name}-models"


def endpoint(name: str, namespace: str, port: int) -> str:
    return f"http://{service_name(name)}.{namespace}.svc:{port}"
