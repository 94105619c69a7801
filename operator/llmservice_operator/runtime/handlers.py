"""kopf wiring: the operator's start and stop, and one event handler per watch. Nothing else.

The handlers are made from :data:`~.watched.WATCHED` and hand every event to the
:class:`~.controller.Controller`: raw event handlers rather than kopf's create/update/resume
ones (see :mod:`.controller` for why), and no kopf indexes (see :mod:`.cache`). Every handler
is a coroutine: kopf would run a plain function in its thread pool, a thread hop per event.
Importing this module registers them with kopf's default registry.
"""

from __future__ import annotations

from typing import Any

import kopf

from llmservice_operator.runtime import settings as settings_mod
from llmservice_operator.runtime.controller import Controller
from llmservice_operator.runtime.kube import USER_AGENT, Kube
from llmservice_operator.runtime.kubeconfig import connect
from llmservice_operator.runtime.watched import WATCHED, Watch

_state: dict[str, Controller] = {}


def controller() -> Controller:
    return _state["controller"]


@kopf.on.startup()
async def start(**_: Any) -> None:
    config = settings_mod.load()
    cluster = connect(in_cluster_first=True, user_agent=USER_AGENT)
    kube = Kube(
        cluster.api_client, workers=config.api_workers, request_timeout=config.request_timeout
    )
    ctl = Controller(
        kube,
        debounce=config.status_debounce,
        status_interval=config.status_interval,
        concurrency=2 * config.api_workers,
        first_status_delay=config.first_status_delay,
        capacity_grace=config.capacity_grace,
        restart_window=config.restart_window,
        model_progress_interval=config.model_progress_interval,
        discovery_recheck=config.discovery_recheck,
    )
    _state["controller"] = ctl
    # kopf starts its watches once the start-up handlers are done: what is listed here
    # existed before them, and the controller waits until the watches have reported it.
    await ctl.start(config.namespaces or (None,))


@kopf.on.cleanup()
async def stop(**_: Any) -> None:
    ctl = _state.pop("controller", None)
    if ctl is not None:
        await ctl.close()
        ctl.kube.close()


def _watch(watch: Watch) -> None:
    kind = watch.kind.kind

    async def on_event(type: str | None, body: kopf.Body, **_: Any) -> None:
        controller().on_event(kind, type, body)

    # No label filter here: a selector is the API server's to apply (main.kopf_settings).
    kopf.on.event(watch.kind.api_version, watch.kind.plural, id=f"{watch.kind.plural}-events")(
        on_event
    )


for _each in WATCHED:
    _watch(_each)
