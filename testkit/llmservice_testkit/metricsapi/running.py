""":class:`MetricsAPI`: the test metrics server, its network namespace and its registration
in a real control plane, started and stopped together (see the package's docstring)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from llmservice_testkit.cluster import pki as pki_files
from llmservice_testkit.metricsapi import registration
from llmservice_testkit.metricsapi.netns import VethNamespace
from llmservice_testkit.metricsapi.server import (
    APIServerPods,
    Call,
    MetricsServer,
    server_context,
)
from llmservice_testkit.metricsapi.values import MetricValues, Quantity


class MetricsAPI:
    """``with MetricsAPI(control_plane) as metrics: metrics.set(ns, "cpu", "250m", pod=...)``"""

    def __init__(self, control_plane: Any) -> None:
        """``control_plane``: a started :class:`~llmservice_testkit.cluster.ControlPlane`."""
        self.control_plane = control_plane
        self.values = MetricValues()
        self.namespace = VethNamespace()
        self.server: MetricsServer | None = None
        self._registrar: registration.Registrar | None = None
        self._objects: list[dict[str, Any]] = []

    # -- what tests use -------------------------------------------------------------------

    def set(
        self,
        namespace: str,
        metric: str,
        value: Quantity,
        *,
        pod: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Pods report ``value`` for ``metric`` from now on: one pod (``pod``), the pods
        carrying ``labels``, or every pod of ``namespace``. ``cpu`` and ``memory`` are
        resource metrics (a pod's total: ``"250m"`` or ``0.25`` cores, ``"512Mi"`` or
        bytes); any other name is a custom metric."""
        self.values.set(namespace, metric, value, pod=pod, labels=labels)

    def unset(
        self,
        namespace: str,
        metric: str,
        *,
        pod: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.values.unset(namespace, metric, pod=pod, labels=labels)

    def clear(self, namespace: str | None = None) -> None:
        self.values.clear(namespace)

    @property
    def calls(self) -> list[Call]:
        """Every request the server answered, with the user kube-apiserver proxied it for."""
        return list(self.server.calls) if self.server else []

    @property
    def address(self) -> str:
        return self.namespace.address

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> MetricsAPI:
        cp = self.control_plane
        self.namespace.start()
        try:
            sock = self.namespace.listen()
            cert = pki_files.serving_certificate(
                cp.pki, "metrics-api", registration.server_name(), (self.namespace.address,)
            )
            context = server_context(
                str(cert), str(cert.with_suffix(".key")), str(cp.pki.front_proxy_ca)
            )
            pods = APIServerPods(cp.url, str(cp.pki.ca_cert), cp.pki.admin.token)
            self.server = MetricsServer(self.values, pods, sock, context).start()
            self._registrar = registration.Registrar(cp.url, cp.pki.ca_cert, cp.pki.admin.token)
            services = registration.api_services(cp.pki.ca_cert.read_bytes())
            self._objects = [
                registration.service(),
                registration.endpoint_slice(self.namespace.address, self.server.port),
                *services,
            ]
            self._registrar.apply(self._objects)
            self._registrar.wait_available([s["metadata"]["name"] for s in services])
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Unregister (when the control plane still answers), stop the server, remove the
        namespace and its veth pair."""
        if self._registrar is not None:
            with contextlib.suppress(Exception):  # the control plane may be gone already
                self._registrar.remove(self._objects)
            self._registrar.close()
            self._registrar = None
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.namespace.stop()

    def __enter__(self) -> MetricsAPI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
