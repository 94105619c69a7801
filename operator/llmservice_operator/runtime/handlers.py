"""kopf handlers: watches and the operator's start and stop. Nothing else.

Every event is handed to :class:`~llmservice_operator.runtime.controller.Controller`, which keeps
what it needs of it in its cache and reconciles; see there for why the handlers are raw
event handlers rather than kopf's create/update/resume ones, and :mod:`cache` for why
there are no kopf indexes. The watches here are the ones ``controller.WATCHED`` lists. All
handlers are coroutines: kopf would run plain functions in its thread pool, a thread hop
per event.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from llmservice_operator.api.models import API_GROUP, API_VERSION, PLURAL
from llmservice_operator.runtime import settings as settings_mod
from llmservice_operator.runtime.controller import Controller
from llmservice_operator.runtime.kube import Kube, api_client_from_environment

log = logging.getLogger(__name__)
_state: dict[str, Controller] = {}

LLMSERVICES = (API_GROUP, API_VERSION, PLURAL)


def controller() -> Controller:
    return _state["controller"]


@kopf.on.startup()
async def start(**_: Any) -> None:
    config = settings_mod.load()
    kube = Kube(api_client_from_environment(), workers=config.api_workers)
    ctl = Controller(
        kube,
        debounce=config.status_debounce,
        status_interval=config.status_interval,
        concurrency=2 * config.api_workers,
        first_status_delay=config.first_status_delay,
    )
    _state["controller"] = ctl
    # kopf starts its watches once the start-up handlers are done: what is listed here
    # existed before them, and the controller waits until the watches have reported it.
    namespaces: tuple[str | None, ...] = config.namespaces or (None,)
    await ctl.list_existing(namespaces)


@kopf.on.cleanup()
async def stop(**_: Any) -> None:
    ctl = _state.pop("controller", None)
    if ctl is not None:
        await ctl.close()
        ctl.kube.close()


@kopf.on.event(*LLMSERVICES)
async def llmservice_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    controller().on_service_event(type, body)


@kopf.on.event("apps", "v1", "deployments")
async def deployment_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    controller().on_child_event("Deployment", type, body)


@kopf.on.event("v1", "services")
async def service_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    controller().on_child_event("Service", type, body)


@kopf.on.event("autoscaling", "v2", "horizontalpodautoscalers")
async def hpa_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    controller().on_child_event("HorizontalPodAutoscaler", type, body)


@kopf.on.event("v1", "persistentvolumeclaims")
async def claim_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    controller().on_child_event("PersistentVolumeClaim", type, body)


# No label filter here: the pods are selected by the API server (main.kopf_settings), and
# a pod whose label is removed is reported once more, as DELETED and without the label.
@kopf.on.event("v1", "pods")
async def pod_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    controller().on_pod_event(type, body)
