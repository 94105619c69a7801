"""The report's reads from the API server: the LLMService and its children, and the probe.

Through the official client's typed APIs (``report`` runs once, so their import cost does
not matter here as it does in the operator); every failure becomes a :class:`ReportError`
worded for the user.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from llmservice_operator.api import naming
from llmservice_operator.api.models import API_GROUP, API_VERSION, KIND, PLURAL
from llmservice_operator.tools.report.data import Fetched, Obj, ProbeResult, summarize_probe

PROBE_TIMEOUT_SECONDS = 10.0
PROBE_GAP_SECONDS = 0.1
HEALTH_PATH = "healthz"


class ReportError(Exception):
    """Something the report cannot get past; the message is for the user, as it is."""


def _describe_api_error(exc: Any) -> str:
    detail = ""
    try:
        detail = str(json.loads(exc.body or "{}").get("message") or "")
    except (ValueError, AttributeError):
        detail = str(exc.body or "")[:200]
    return f"HTTP {exc.status} {exc.reason}" + (f": {detail}" if detail else "")


def _read(what: str, call: Callable[[], Any]) -> Any:
    """The object as a dict, None when the API server says 404; other failures explained."""
    import urllib3
    from kubernetes.client.exceptions import ApiException

    try:
        response = call()
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise ReportError(f"reading {what}: {_describe_api_error(exc)}") from None
    except urllib3.exceptions.HTTPError as exc:
        raise ReportError(f"cannot reach the Kubernetes API server: {exc}") from None
    if isinstance(response, dict):
        return response
    return json.loads(response.data or b"{}")


def fetch(api: Any, name: str, namespace: str) -> Fetched:
    """Read the LLMService and its children; ReportError when the LLMService is absent."""
    from kubernetes import client

    where = f"{namespace}/{name}"
    custom = client.CustomObjectsApi(api)
    llmservice = _read(
        f"{KIND} {where}",
        lambda: custom.get_namespaced_custom_object(
            API_GROUP, API_VERSION, namespace, PLURAL, name
        ),
    )
    if llmservice is None:
        raise ReportError(
            f"{KIND} {where} not found (`kubectl get llms -n {namespace}` lists the ones there;"
            " if that fails too, the CRD is not installed)"
        )
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    autoscaling = client.AutoscalingV2Api(api)
    deployment = _read(
        f"Deployment {where}",
        lambda: apps.read_namespaced_deployment(
            naming.deployment_name(name), namespace, _preload_content=False
        ),
    )
    service = _read(
        f"Service {where}",
        lambda: core.read_namespaced_service(
            naming.service_name(name), namespace, _preload_content=False
        ),
    )
    hpa = _read(
        f"HorizontalPodAutoscaler {where}",
        lambda: autoscaling.read_namespaced_horizontal_pod_autoscaler(
            naming.hpa_name(name), namespace, _preload_content=False
        ),
    )
    pods = _read(
        f"Pods of {where}",
        lambda: core.list_namespaced_pod(
            namespace, label_selector=naming.selector_string(name), _preload_content=False
        ),
    )
    return Fetched(
        name=name,
        namespace=namespace,
        llmservice=llmservice,
        deployment=deployment,
        service=service,
        hpa=hpa,
        pods=list((pods or {}).get("items") or ()),
    )


def service_proxy_port(service: Obj | None) -> str | None:
    """The Service port to probe, as the proxy path names it (by name when it has one)."""
    ports = ((service or {}).get("spec") or {}).get("ports") or ()
    if not ports:
        return None
    first = ports[0]
    return str(first.get("name") or first.get("port"))


def probe(
    api: Any,
    namespace: str,
    service_name: str,
    port: str,
    samples: int,
    clock: Callable[[], float] = time.perf_counter,
) -> ProbeResult:
    """GET /healthz ``samples`` times through the API server's service proxy
    (``/api/v1/namespaces/NS/services/NAME:PORT/proxy/healthz``) and time each answer."""
    import urllib3
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api)
    latencies: list[float] = []
    failures: list[str] = []
    for i in range(samples):
        if i:
            time.sleep(PROBE_GAP_SECONDS)
        start = clock()
        try:
            response: Any = core.connect_get_namespaced_service_proxy_with_path(
                f"{service_name}:{port}",
                namespace,
                HEALTH_PATH,
                _preload_content=False,
                _request_timeout=PROBE_TIMEOUT_SECONDS,
            )
            response.read()
        except ApiException as exc:
            failures.append(f"HTTP {exc.status}")
            continue
        except urllib3.exceptions.HTTPError as exc:
            failures.append(f"connection error: {type(exc).__name__}")
            continue
        elapsed = clock() - start
        if response.status == 200:
            latencies.append(elapsed)
        else:
            failures.append(f"HTTP {response.status}")
    return summarize_probe(latencies, failures)
