"""The HTTP side of the test metrics APIs: the resource metrics API (``metrics.k8s.io/v1beta1``,
what ``kubectl top`` and the HPA's ``Resource`` metrics read) and the custom metrics API
(``custom.metrics.k8s.io/v1beta2``, the HPA's ``Pods`` metrics), answering with the values a
test set (:mod:`.values`) for the pods the API server has.

Only pods are served, as the HPA asks for them: a list with a label selector, or one pod
by name. The pods themselves come from the API server (:class:`APIServerPods`), so a
selector means exactly what it means there; only pods in phase ``Running`` report, as a
metrics pipeline sees only running containers.

Who may call: the TLS handshake requires a client certificate signed by the front-proxy
CA (what kube-apiserver presents with ``--proxy-client-cert-file``), and its common name
must be one of ``--requestheader-allowed-names``. The user the API server authenticated is
then read from the request headers (``X-Remote-User``, ``X-Remote-Group``) and recorded in
:attr:`MetricsServer.calls`; authorization stays the API server's (RBAC already checked the
caller before it proxied the request), so no SubjectAccessReview is made here.

Custom metrics ``v1beta1`` is not served: the HPA controller (``k8s.io/metrics``'
custom-metrics client) asks discovery for the group's preferred version and uses that one,
``v1beta2`` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from aiohttp import web

from llmservice_testkit.metricsapi.values import MetricValues

RESOURCE_GROUP, RESOURCE_VERSION = "metrics.k8s.io", "v1beta1"
CUSTOM_GROUP, CUSTOM_VERSION = "custom.metrics.k8s.io", "v1beta2"
RESOURCES = ("cpu", "memory")  # what PodMetrics report; any other name is a custom metric
WINDOW_SECONDS = 1
Obj = dict[str, Any]


class PodSource(Protocol):
    """Where the server finds pods: the API server, or a fixed list in unit tests."""

    async def list(self, namespace: str | None, label_selector: str) -> list[Obj]: ...

    async def get(self, namespace: str, name: str) -> Obj | None: ...

    async def close(self) -> None: ...


class APIServerPods:
    """Pods as the API server lists them (``namespace`` None: every namespace)."""

    def __init__(self, url: str, ca_file: str, token: str) -> None:
        self.url, self.ca_file, self.token = url, ca_file, token
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # made on the server's own event loop
            self._client = httpx.AsyncClient(
                base_url=self.url,
                verify=ssl.create_default_context(cafile=self.ca_file),
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=10,
            )
        return self._client

    async def list(self, namespace: str | None, label_selector: str) -> list[Obj]:
        path = f"/api/v1/namespaces/{quote(namespace)}/pods" if namespace else "/api/v1/pods"
        params = {"labelSelector": label_selector} if label_selector else {}
        answer = await self._http().get(path, params=params)
        answer.raise_for_status()
        return list(answer.json().get("items") or [])

    async def get(self, namespace: str, name: str) -> Obj | None:
        answer = await self._http().get(f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(name)}")
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        return dict(answer.json())

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


@dataclass(frozen=True)
class Call:
    """One request that reached the server, with the identity the API server vouched for."""

    user: str
    groups: tuple[str, ...]
    path: str
    query: str


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return web.json_response(body, status=code)


def _group(name: str, version: str) -> Obj:
    gv = {"groupVersion": f"{name}/{version}", "version": version}
    return {"name": name, "versions": [gv], "preferredVersion": gv}


def _running(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and not (
        pod.get("metadata") or {}
    ).get("deletionTimestamp")


def container_names(pod: Obj) -> list[str]:
    """The containers a metrics pipeline reports: the regular ones and native sidecars
    (init containers that keep running), which the HPA counts in a pod's requests too."""
    spec = pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or ()]
    names += [
        c["name"] for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"
    ]
    return names


def pod_metrics(pod: Obj, values: MetricValues) -> Obj | None:
    """A pod's ``PodMetrics``, or None when no resource value is set for it. A value is the
    pod's total: it is reported on its first container, the others reporting zero (the HPA
    sums the containers). An unset resource is left out, so the HPA counts the pod as
    missing that metric rather than idle."""
    usage = {r: v for r in RESOURCES if (v := values.for_pod(pod, r)) is not None}
    if not usage:
        return None
    meta = pod["metadata"]
    names = container_names(pod) or ["main"]
    containers = [{"name": names[0], "usage": usage}]
    containers += [{"name": n, "usage": dict.fromkeys(usage, "0")} for n in names[1:]]
    return {
        "kind": "PodMetrics",
        "apiVersion": f"{RESOURCE_GROUP}/{RESOURCE_VERSION}",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": meta.get("labels") or {},
            "creationTimestamp": _now(),
        },
        "timestamp": _now(),
        "window": f"{WINDOW_SECONDS}s",
        "containers": containers,
    }


def metric_value(pod: Obj, metric: str, value: str) -> Obj:
    """One ``MetricValue`` (v1beta2) describing ``pod``."""
    meta = pod["metadata"]
    return {
        "describedObject": {
            "kind": "Pod",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "apiVersion": "/v1",
        },
        "metric": {"name": metric},
        "timestamp": _now(),
        "windowSeconds": WINDOW_SECONDS,
        "value": value,
    }


def make_app(
    values: MetricValues,
    pods: PodSource,
    calls: list[Call],
    allowed_names: Sequence[str] = ("front-proxy-client",),
) -> web.Application:
    """The aiohttp application; ``calls`` receives every authenticated request."""

    @web.middleware
    async def authenticate(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # The handshake already required a certificate from the front-proxy CA; its name
        # must also be an allowed proxy's, as kube-apiserver's own request-header check does.
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        names = {v for rdn in (peer or {}).get("subject", ()) for k, v in rdn if k == "commonName"}
        if allowed_names and not names & set(allowed_names):
            return _status(403, "Forbidden", f"client certificate {sorted(names)} is not allowed")
        calls.append(
            Call(
                user=request.headers.get("X-Remote-User", ""),
                groups=tuple(request.headers.getall("X-Remote-Group", ())),
                path=request.path,
                query=request.query_string,
            )
        )
        try:
            return await handler(request)
        except httpx.HTTPError as exc:
            return _status(503, "ServiceUnavailable", f"listing pods failed: {exc}")

    async def healthy(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def openapi_v2(_: web.Request) -> web.Response:
        # The API server merges every aggregated server's OpenAPI document into its own and
        # logs a failure (retrying) for one it cannot download: an empty one is enough.
        info = {"title": "llmservice test kit metrics", "version": "v0"}
        return web.json_response({"swagger": "2.0", "info": info, "paths": {}})

    async def openapi_v3(_: web.Request) -> web.Response:
        return web.json_response({"paths": {}})

    async def api_groups(_: web.Request) -> web.Response:
        groups = [_group(RESOURCE_GROUP, RESOURCE_VERSION), _group(CUSTOM_GROUP, CUSTOM_VERSION)]
        return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})

    async def api_group(request: web.Request) -> web.Response:
        versions = {RESOURCE_GROUP: RESOURCE_VERSION, CUSTOM_GROUP: CUSTOM_VERSION}
        name = request.match_info["group"]
        if name not in versions:
            return _status(404, "NotFound", f"the group {name} is not served here")
        return web.json_response(
            {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions[name])}
        )

    async def resource_discovery(_: web.Request) -> web.Response:
        resource = {
            "name": "pods",
            "singularName": "",
            "namespaced": True,
            "kind": "PodMetrics",
            "verbs": ["get", "list"],
        }
        return web.json_response(
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{RESOURCE_GROUP}/{RESOURCE_VERSION}",
                "resources": [resource],
            }
        )

    async def custom_discovery(_: web.Request) -> web.Response:
        resources = [
            {
                "name": f"pods/{metric}",
                "singularName": "",
                "namespaced": True,
                "kind": "MetricValueList",
                "verbs": ["get"],
            }
            for metric in values.metrics()
            if metric not in RESOURCES
        ]
        return web.json_response(
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{CUSTOM_GROUP}/{CUSTOM_VERSION}",
                "resources": resources,
            }
        )

    async def pod_metrics_list(request: web.Request) -> web.Response:
        namespace = request.match_info.get("namespace")
        listed = await pods.list(namespace, request.query.get("labelSelector", ""))
        items = [m for p in listed if _running(p) and (m := pod_metrics(p, values))]
        return web.json_response(
            {
                "kind": "PodMetricsList",
                "apiVersion": f"{RESOURCE_GROUP}/{RESOURCE_VERSION}",
                "metadata": {},
                "items": items,
            }
        )

    async def pod_metrics_one(request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        pod = await pods.get(namespace, name)
        found = pod_metrics(pod, values) if pod and _running(pod) else None
        if found is None:
            return _status(404, "NotFound", f'podmetrics.metrics.k8s.io "{name}" not found')
        return web.json_response(found)

    async def custom_metric(request: web.Request) -> web.Response:
        namespace = request.match_info["namespace"]
        resource, name = request.match_info["resource"], request.match_info["name"]
        metric = request.match_info["metric"]
        if resource != "pods":
            return _status(404, "NotFound", f"only pods have metrics here, not {resource}")
        if request.query.get("metricLabelSelector"):
            return _status(400, "BadRequest", "metric label selectors are not supported here")
        if metric in RESOURCES or metric not in values.metrics():
            return _status(
                404, "NotFound", f"the server could not find the metric {metric} for pods"
            )
        if name == "*":
            listed = await pods.list(namespace, request.query.get("labelSelector", ""))
        else:
            one = await pods.get(namespace, name)
            listed = [one] if one else []
        items = [
            metric_value(p, metric, v)
            for p in listed
            if _running(p) and (v := values.for_pod(p, metric)) is not None
        ]
        if name != "*" and not items:
            return _status(
                404, "NotFound", f"the server could not find the metric {metric} for pods {name}"
            )
        return web.json_response(
            {
                "kind": "MetricValueList",
                "apiVersion": f"{CUSTOM_GROUP}/{CUSTOM_VERSION}",
                "metadata": {},
                "items": items,
            }
        )

    app = web.Application(middlewares=[authenticate])
    resource_root = f"/apis/{RESOURCE_GROUP}/{RESOURCE_VERSION}"
    custom_root = f"/apis/{CUSTOM_GROUP}/{CUSTOM_VERSION}"
    app.router.add_get("/healthz", healthy)
    app.router.add_get("/readyz", healthy)
    app.router.add_get("/livez", healthy)
    app.router.add_get("/openapi/v2", openapi_v2)
    app.router.add_get("/openapi/v3", openapi_v3)
    app.router.add_get("/apis", api_groups)
    app.router.add_get("/apis/{group}", api_group)
    app.router.add_get(resource_root, resource_discovery)
    app.router.add_get(f"{resource_root}/pods", pod_metrics_list)
    app.router.add_get(f"{resource_root}/namespaces/{{namespace}}/pods", pod_metrics_list)
    app.router.add_get(f"{resource_root}/namespaces/{{namespace}}/pods/{{name}}", pod_metrics_one)
    app.router.add_get(custom_root, custom_discovery)
    app.router.add_get(
        f"{custom_root}/namespaces/{{namespace}}/{{resource}}/{{name}}/{{metric}}", custom_metric
    )
    return app


def server_context(cert: str, key: str, client_ca: str) -> ssl.SSLContext:
    """TLS that refuses any client without a certificate from ``client_ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=client_ca)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


async def _drain(tasks: set[asyncio.Task[Any]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


class MetricsServer:
    """The application on an already bound ``sock``, on its own event loop in a thread
    (the tests stay synchronous)."""

    def __init__(
        self,
        values: MetricValues,
        pods: PodSource,
        sock: socket.socket,
        context: ssl.SSLContext,
        allowed_names: Sequence[str] = ("front-proxy-client",),
    ) -> None:
        self.values, self.pods, self.sock, self.context = values, pods, sock, context
        self.allowed_names = tuple(allowed_names)
        self.calls: list[Call] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def start(self) -> MetricsServer:
        self._thread = threading.Thread(target=self._run, name="metrics-api", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise RuntimeError(f"the metrics server failed to start: {self._error}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(15)
        self.sock.close()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()
            # Connections the API server kept alive still have their handlers waiting.
            left = asyncio.all_tasks(self._loop)
            for task in left:
                task.cancel()
            self._loop.run_until_complete(_drain(left))
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        app = make_app(self.values, self.pods, self.calls, self.allowed_names)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.SockSite(runner, self.sock, ssl_context=self.context).start()
            self._ready.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()
            await self.pods.close()
