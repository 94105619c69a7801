"""``llmservice-operator run``, the operator process: settings, logging, metrics, then kopf
with our handlers (:mod:`.handlers`)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

import kopf

from llmservice_operator.runtime import settings as settings_mod
from llmservice_operator.runtime.metrics import METRICS
from llmservice_operator.runtime.watched import WATCHED

WORKER_IDLE_SECONDS = 0.1
CONNECT_TIMEOUT = 10.0  # seconds; a connection takes well under one when the server is up


class NoDiffBase(kopf.DiffBaseStorage):
    """No diff base: kopf's change detection is for create/update/resume handlers, which
    this operator does not use (see :mod:`.controller`). kopf still builds a diff base for
    every event it sees, a deep copy of the whole object, status and managed fields
    included; with thousands of watched objects that was half of the operator's CPU.
    Building an empty one, and storing none, costs nothing and changes nothing the event
    handlers see."""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        return {}

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def configure_logging(config: settings_mod.Settings) -> None:
    fmt = kopf.LogFormat.JSON if config.log_format == "json" else kopf.LogFormat.FULL
    kopf.configure(log_format=fmt, log_refkey="object" if config.log_format == "json" else None)
    logging.getLogger().setLevel(config.log_level)
    # The API client logs every request at DEBUG; keep that for when it is asked for.
    for noisy in ("urllib3", "kubernetes", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(config.log_level, logging.INFO))
    if config.log_level > logging.DEBUG:
        # kopf says "Handler ... succeeded" for every watch event: debug detail.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)


def kopf_settings(config: settings_mod.Settings) -> kopf.OperatorSettings:
    """kopf's settings from ours: watch timeouts, and no log lines posted as events (the
    operator posts the events a user needs itself)."""
    ks = kopf.OperatorSettings()
    ks.watching.server_timeout = config.watch_server_timeout
    ks.watching.client_timeout = config.watch_client_timeout
    ks.watching.connect_timeout = config.watch_connect_timeout
    ks.watching.chunk_size = config.watch_list_chunk
    ks.networking.request_timeout = config.request_timeout
    ks.networking.connect_timeout = min(CONNECT_TIMEOUT, config.request_timeout)
    ks.posting.loggers = False
    # kopf keeps a worker per object alive for a while after its last event, and the
    # worker holds that event's full body until it exits. After a listing (start-up, or a
    # watch that ended) that is every object of every watched kind at once: with a
    # thousand LLMServices, the largest part of the operator's memory. Our handlers copy
    # what they need into the controller's cache, so the bodies can go once handled.
    ks.queueing.idle_timeout = WORKER_IDLE_SECONDS
    ks.persistence.diffbase_storage = NoDiffBase()
    # Only our pods, selected by the API server: a cluster's other pods never reach the
    # operator, and a pod whose label is removed is reported as leaving (DELETED).
    for watch in WATCHED:
        if watch.selector is not None:
            ks.watching.label_selectors[watch.kind.api_version, watch.kind.plural] = watch.selector
    # Watching named namespaces, the operator may hold only a Role there (deploy/namespaced):
    # kopf's scanning would list namespaces and watch CRDs at cluster scope, retry the 403s
    # for about a minute and only then fall back to the names it was given.
    ks.scanning.disabled = not config.clusterwide
    ks.peering.standalone = config.peering_name is None
    if config.peering_name is not None:
        ks.peering.name = config.peering_name
    return ks


def main() -> int:
    try:
        config = settings_mod.load()
    except settings_mod.SettingsError as exc:
        print(f"llmservice-operator: {exc}", file=sys.stderr)
        return 2
    configure_logging(config)
    from llmservice_operator.runtime import handlers  # noqa: F401 - registers the handlers with kopf

    if config.metrics_port:
        METRICS.serve(config.metrics_port, addr=config.health_host)
    kopf.run(
        settings=kopf_settings(config),
        standalone=config.peering_name is None,
        peering_name=config.peering_name,
        clusterwide=config.clusterwide,
        namespaces=list(config.namespaces),
        liveness_endpoint=f"http://{config.health_host}:{config.health_port}/healthz",
    )
    return 0
