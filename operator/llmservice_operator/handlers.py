"""kopf handlers: watches, indexes and the operator's start and stop. Nothing else.

Every event is handed to :class:`~llmservice_operator.controller.Controller`, which
reconciles; see there for why the handlers are raw event handlers rather than kopf's
create/update/resume ones. The indexes keep small summaries of the LLMServices, of every
object that has (or could take) a child's name, and of our pods. All handlers are
coroutines: kopf would run plain functions in its thread pool, a thread hop per event.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from llmservice_operator import settings as settings_mod
from llmservice_operator.controller import Controller, child_summary, pack, service_summary
from llmservice_operator.kube import Kube, api_client_from_environment
from llmservice_operator.labels import SERVICE_LABEL
from llmservice_operator.models import API_GROUP, API_VERSION, PLURAL
from llmservice_operator.status import project_pod

log = logging.getLogger(__name__)
_state: dict[str, Controller] = {}

LLMSERVICES = (API_GROUP, API_VERSION, PLURAL)
OUR_PODS = {SERVICE_LABEL: kopf.PRESENT}


def controller(kwargs: dict[str, Any]) -> Controller:
    ctl = _state["controller"]
    ctl.bind(kwargs)
    return ctl


@kopf.on.startup()
async def start(**_: Any) -> None:
    config = settings_mod.load()
    kube = Kube(api_client_from_environment(), workers=config.api_workers)
    _state["controller"] = Controller(
        kube,
        debounce=config.status_debounce,
        status_interval=config.status_interval,
        concurrency=2 * config.api_workers,
    )


@kopf.on.cleanup()
async def stop(**_: Any) -> None:
    ctl = _state.pop("controller", None)
    if ctl is not None:
        await ctl.close()
        ctl.kube.close()


# indexes ------------------------------------------------------------------------------


@kopf.index(*LLMSERVICES)
async def llmservice_index(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> object:
    return {(namespace, name): pack(service_summary(body))}


@kopf.index("apps", "v1", "deployments")
async def deployment_index(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> object:
    return {(namespace, name): pack(child_summary(body))}


@kopf.index("v1", "services")
async def service_index(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> object:
    return {(namespace, name): pack(child_summary(body))}


@kopf.index("autoscaling", "v2", "horizontalpodautoscalers")
async def hpa_index(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> object:
    return {(namespace, name): pack(child_summary(body))}


@kopf.index("v1", "persistentvolumeclaims")
async def claim_index(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> object:
    return {(namespace, name): pack(child_summary(body))}


@kopf.index("v1", "pods", labels=OUR_PODS)
async def pod_index(namespace: str | None, body: kopf.Body, **_: Any) -> object:
    return {(namespace, body["metadata"]["labels"][SERVICE_LABEL]): pack(project_pod(body))}


# events -------------------------------------------------------------------------------


@kopf.on.event(*LLMSERVICES)
async def llmservice_event(type: str | None, body: kopf.Body, **kwargs: Any) -> None:
    controller(kwargs).on_service_event(type, body)


@kopf.on.event("apps", "v1", "deployments")
async def deployment_event(type: str | None, body: kopf.Body, **kwargs: Any) -> None:
    controller(kwargs).on_child_event("Deployment", type, body)


@kopf.on.event("v1", "services")
async def service_event(type: str | None, body: kopf.Body, **kwargs: Any) -> None:
    controller(kwargs).on_child_event("Service", type, body)


@kopf.on.event("autoscaling", "v2", "horizontalpodautoscalers")
async def hpa_event(type: str | None, body: kopf.Body, **kwargs: Any) -> None:
    controller(kwargs).on_child_event("HorizontalPodAutoscaler", type, body)


@kopf.on.event("v1", "persistentvolumeclaims")
async def claim_event(type: str | None, body: kopf.Body, **kwargs: Any) -> None:
    controller(kwargs).on_child_event("PersistentVolumeClaim", type, body)


@kopf.on.event("v1", "pods", labels=OUR_PODS)
async def pod_event(type: str | None, body: kopf.Body, **kwargs: Any) -> None:
    controller(kwargs).on_pod_event(body)
