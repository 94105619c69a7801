"""A test-controlled metrics API for the real control plane: the HPA controller scales on
values a test sets, per pod, from Python.

It serves the two aggregated APIs the HPA reads, to kube-apiserver only:

- ``metrics.k8s.io/v1beta1`` (PodMetrics): ``cpu`` and ``memory`` of pods, for ``Resource``
  (and ``ContainerResource``) metrics and ``kubectl top pod``;
- ``custom.metrics.k8s.io/v1beta2``: any other metric name, per pod, for ``Pods`` metrics
  (``kubectl get --raw /apis/custom.metrics.k8s.io/v1beta2/namespaces/NS/pods/*/METRIC``).

Start it on a started control plane (root and iproute2 needed: it listens in a network
namespace of its own, see :mod:`.netns`)::

    from llmservice_testkit.cluster import LocalCluster
    from llmservice_testkit.metricsapi import MetricsAPI, IN_FLIGHT

    with LocalCluster(nodes=2) as cluster, MetricsAPI(cluster.control_plane) as metrics:
        metrics.set("ns", IN_FLIGHT, 6, labels={"app": "chat"})   # every pod with the label
        metrics.set("ns", IN_FLIGHT, 1, pod="chat-7d9c-abcde")      # one pod (wins)
        metrics.set("ns", "cpu", "250m", labels={"app": "chat"})    # or 0.25
        metrics.set("ns", "memory", "512Mi", labels={"app": "chat"})
        metrics.unset("ns", IN_FLIGHT, pod="chat-7d9c-abcde")
        metrics.clear("ns")                                         # or clear(): everything
        metrics.calls   # requests answered, with the user kube-apiserver proxied them for

In pytest: the ``metrics_cluster`` fixture of tests/cluster/conftest.py (a session: its own
control plane with two simulated nodes, the CRD and the operator's identity, and this API;
``metrics_cluster.real`` is a ``RealSession``, ``metrics_cluster.metrics`` this handle). It
skips, saying why, without root, ``ip``, kubectl or the Kubernetes build.

What a pod reports, at each request (the HPA controller asks every sync period):

- only pods the API server lists for the request's label selector, in phase ``Running``;
- a pod's own value (``pod=``) wins over label sets; among matching label sets, the one set
  last wins; a pod with no value is left out (the HPA counts it as missing a metric);
- values are Kubernetes quantities: ``3``, ``2.5`` (answered ``2500m``), ``"250m"``;
- ``cpu``/``memory`` are the pod's total, reported on its first container (others ``0``);
  timestamps are the request's, the window 1 s, so a Ready pod's samples count for the HPA's
  CPU readiness rule at once.

The HPA's own knobs: kube-controller-manager syncs HPAs every ``hpa_sync_seconds`` (5 s in
the tests) with the default tolerance (10 %); scale-down waits the HPA's
``behavior.scaleDown.stabilizationWindowSeconds`` (default 300 s), which a test shortens
per HPA, so no controller flag is changed for this.
"""

from llmservice_testkit.metricsapi.netns import NamespaceUnavailable
from llmservice_testkit.metricsapi.running import MetricsAPI
from llmservice_testkit.metricsapi.server import Call
from llmservice_testkit.metricsapi.values import MetricValues, quantity

# The backend's gauges (llmservice_backend/metrics.py), as a metrics adapter exposes them.
IN_FLIGHT = "llmservice_backend_upstream_in_flight_requests"
QUEUED = "llmservice_backend_queue_depth"

__all__ = [
    "IN_FLIGHT",
    "QUEUED",
    "Call",
    "MetricValues",
    "MetricsAPI",
    "NamespaceUnavailable",
    "quantity",
]
