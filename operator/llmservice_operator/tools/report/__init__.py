"""``llmservice-operator report NAME``: what an LLMService and its children look like now.

The seeds' "poster results" script printed 0 backend pods next to 12 containers and a
0 s health check: it counted with the wrong selectors and timed nothing. This command
reads the objects the operator manages (the LLMService, its Deployment, Service, HPA and
Pods, found by name and by the pods' selector labels) and reports them:

- pods ready/total: a pod counts as ready when its ``Ready`` condition is True;
- containers ready/total: every regular container plus every native sidecar (an init
  container with ``restartPolicy: Always``; Ollama runs that way), as ``kubectl`` counts
  them; ordinary init containers have finished by the time a pod runs and are left out;
- restarts: the sum of those containers' ``restartCount``;
- the HPA's range, current and desired replicas, and utilization against its targets;
- the LLMService's conditions with their reasons, its endpoint and its age;
- with ``--probe``, the latency of ``/healthz`` through the API server's service proxy
  (the request path a user outside the cluster would take with ``kubectl proxy``).

The parts, each with one job: :mod:`.data` (the figures, pure functions of the fetched
objects and the clock, so every number can be tested without a cluster), :mod:`.text`
(the figures for people), :mod:`.cluster` (the reads and the probe) and :mod:`.command`
(the subcommand). This module only gathers the names cli.py and the tests use.
"""

from llmservice_operator.tools.report.cluster import ReportError, fetch, probe
from llmservice_operator.tools.report.command import add_arguments, main, make_report
from llmservice_operator.tools.report.data import (
    Fetched,
    Report,
    build_report,
    counted_containers,
    hpa_state,
    human_duration,
    pod_row,
    pod_status,
    summarize_probe,
)
from llmservice_operator.tools.report.text import render_text

__all__ = [
    "Fetched",
    "Report",
    "ReportError",
    "add_arguments",
    "build_report",
    "counted_containers",
    "fetch",
    "hpa_state",
    "human_duration",
    "main",
    "make_report",
    "pod_row",
    "pod_status",
    "probe",
    "render_text",
    "summarize_probe",
]
