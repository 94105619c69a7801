"""Thin, typed access to the Kubernetes API for the reconciler.

The official (synchronous) client runs in a small thread pool of our own, so API calls
never block kopf's event loop and at most ``workers`` requests are in flight. Requests go
through the client's ``ApiClient`` (configuration, authentication, TLS, connection pool)
with explicit paths and content types, and responses are read as plain JSON: the typed
``*Api`` classes would import some 25 MB of model classes, and turning every Deployment
into them would cost more CPU than the request itself when a thousand LLMServices
reconcile at once.

Errors are mapped once, here: conflicts, throttling, server errors and broken connections
become :class:`kopf.TemporaryError` (worth retrying, with a delay); other 4xx answers
become :class:`kopf.PermanentError` (retrying the same request cannot help).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf
import urllib3
from kubernetes.client.api_client import ApiClient
from kubernetes.client.exceptions import ApiException

from llmservice_operator.api import naming
from llmservice_operator.api.models import API_GROUP, API_VERSION, KIND, PLURAL
from llmservice_operator.runtime.metrics import METRICS, Metrics

log = logging.getLogger(__name__)
Obj = dict[str, Any]


APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
RETRYABLE_STATUS = frozenset({409, 429, 500, 502, 503, 504})
CONNECT_TIMEOUT = 10.0  # seconds
Page = list[dict[str, Any]]

# Names the operator's requests in API server logs and audit (and in our tests' counts).
USER_AGENT = f"{naming.FIELD_MANAGER}/0.1.0"


@dataclass(frozen=True)
class Kind:
    """Where one kind of object lives in the API (the LLMService, a child, a Pod, an Event)."""

    api_version: str
    kind: str
    plural: str

    def path(self, namespace: str, name: str | None = None) -> str:
        base = self.collection(namespace)
        return base if name is None else f"{base}/{name}"

    def collection(self, namespace: str | None) -> str:
        """The objects of one namespace, or of all (``None``)."""
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if namespace is None:
            return f"{prefix}/{self.plural}"
        return f"{prefix}/namespaces/{namespace}/{self.plural}"


DEPLOYMENT = Kind("apps/v1", "Deployment", "deployments")
SERVICE = Kind("v1", "Service", "services")
HPA = Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers")
CLAIM = Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims")
PDB = Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets")
POD = Kind("v1", "Pod", "pods")
EVENT = Kind("v1", "Event", "events")
LLMSERVICE = Kind(f"{API_GROUP}/{API_VERSION}", KIND, PLURAL)
# What shows a service to the cluster (builders/route.py, networkpolicy.py, monitor.py).
# HTTPRoute and PodMonitor are served only where their CRDs are installed (.discovery).
NETWORK_POLICY = Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies")
INGRESS = Kind("networking.k8s.io/v1", "Ingress", "ingresses")
HTTPROUTE = Kind("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes")
POD_MONITOR = Kind("monitoring.coreos.com/v1", "PodMonitor", "podmonitors")
EXPOSURE_KINDS = (NETWORK_POLICY, INGRESS, HTTPROUTE, POD_MONITOR)
CHILD_KINDS = {ck.kind: ck for ck in (DEPLOYMENT, SERVICE, HPA, CLAIM, PDB, *EXPOSURE_KINDS)}


def child_kind(manifest: Mapping[str, Any]) -> Kind:
    try:
        return CHILD_KINDS[str(manifest["kind"])]
    except KeyError:
        raise ValueError(
            f"not a child kind the operator manages: {manifest.get('kind')!r}"
        ) from None


def describe(exc: BaseException) -> str:
    """A one-line account of an API failure, with the server's message when it sent one."""
    if isinstance(exc, ApiException):
        detail = ""
        try:
            body = json.loads(exc.body or "{}")
            detail = str(body.get("message") or "")
        except (ValueError, AttributeError):
            detail = str(exc.body or "")[:200]
        return f"HTTP {exc.status} {exc.reason}: {detail}".strip()
    return f"{type(exc).__name__}: {exc}"


def map_error(exc: BaseException, what: str) -> Exception:
    """The kopf error for a failed request: temporary (retry later) or permanent."""
    text = f"{what}: {describe(exc)}"
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        if status in RETRYABLE_STATUS or status == 0:
            delay = 1.0
            retry_after = (exc.headers or {}).get("Retry-After") if exc.headers else None
            if retry_after:
                with contextlib.suppress(ValueError):
                    delay = max(0.1, float(retry_after))
            return kopf.TemporaryError(text, delay=delay)
        return kopf.PermanentError(text)
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError | socket.timeout):
        return kopf.TemporaryError(text, delay=1.0)
    return exc if isinstance(exc, Exception) else RuntimeError(text)


class Kube:
    """The API calls the reconciler makes, each awaitable and error-mapped."""

    def __init__(
        self,
        api_client: ApiClient | None = None,
        workers: int = 8,
        metrics: Metrics = METRICS,
        field_manager: str = naming.FIELD_MANAGER,
        request_timeout: float = 30.0,
    ) -> None:
        self.api_client = api_client or ApiClient()
        self.timeouts = (min(CONNECT_TIMEOUT, request_timeout), request_timeout)  # connect, read
        # The client's connection pool must hold as many connections as threads use it.
        self.api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] = workers
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="kube-api")
        self.metrics = metrics
        self.field_manager = field_manager

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.api_client.close()  # type: ignore[no-untyped-call]

    def _call(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> Obj:
        """One request, in a worker thread; the JSON answer, or ApiException."""
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        params = self.api_client.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(*params, _request_timeout=self.timeouts)
        data = response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status < 300:
            text = data.decode("utf-8", "replace") if data else ""
            raise ApiException(http_resp=response, body=text)
        if not data:
            return {}
        parsed = json.loads(data)
        return parsed if isinstance(parsed, dict) else {}

    async def _run(
        self,
        what: str,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> Obj:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, self._call, method, path, query, body, content_type
            )
        except Exception as exc:
            mapped = map_error(exc, what)
            kind = "retryable" if isinstance(mapped, kopf.TemporaryError) else "permanent"
            self.metrics.errors.labels(kind).inc()
            if mapped is exc:
                raise
            raise mapped from exc

    # ----------------------------------------------------------------------------------
    # children

    async def apply(self, manifest: Mapping[str, Any], field_manager: str | None = None) -> Obj:
        """Server-side apply of one child (force: the operator owns the fields it sets).
        Returns the object as stored. ``field_manager`` defaults to the operator's own."""
        ck = child_kind(manifest)
        meta = manifest["metadata"]
        name, namespace = meta["name"], meta["namespace"]
        self.metrics.writes.labels(ck.kind).inc()
        return await self._run(
            f"apply {ck.kind} {namespace}/{name}",
            "PATCH",
            ck.path(namespace, name),
            [("fieldManager", field_manager or self.field_manager), ("force", "true")],
            dict(manifest),
            APPLY,
        )

    async def get(self, ck: Kind, namespace: str, name: str) -> Obj | None:
        try:
            return await self._run(
                f"get {ck.kind} {namespace}/{name}", "GET", ck.path(namespace, name)
            )
        except kopf.PermanentError as exc:
            if _is_not_found(exc):
                return None
            raise

    async def list_pages(
        self, ck: Kind, namespace: str | None, selector: str | None, page: int = 100
    ) -> AsyncIterator[Page]:
        """Every object of a kind, a page of ``page`` at a time, so that a large cluster's
        objects are never all in memory at once."""
        token = ""
        while True:
            query = [("limit", str(page))]
            if selector:
                query.append(("labelSelector", selector))
            if token:
                query.append(("continue", token))
            answer = await self._run(
                f"list {ck.plural} in {namespace or 'all namespaces'}",
                "GET",
                ck.collection(namespace),
                query,
            )
            yield [item for item in answer.get("items") or () if isinstance(item, dict)]
            token = str((answer.get("metadata") or {}).get("continue") or "")
            if not token:
                return

    async def delete(self, ck: Kind, namespace: str, name: str, uid: str | None) -> bool:
        """Delete a child; with ``uid``, only that very object (never a namesake made since).
        False when it was already gone."""
        body: Obj = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if uid:
            body["preconditions"] = {"uid": uid}
        self.metrics.writes.labels(f"delete {ck.kind}").inc()
        try:
            await self._run(
                f"delete {ck.kind} {namespace}/{name}",
                "DELETE",
                ck.path(namespace, name),
                body=body,
                content_type="application/json",
            )
        except kopf.PermanentError as exc:
            if _is_not_found(exc):
                return False
            raise
        return True

    async def resources(self, api_version: str) -> list[str] | None:
        """The resource names (plurals) an API group version serves, or None when the
        API server does not serve that group version at all (its CRDs are not installed)."""
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            answer = await self._run(f"discover {api_version}", "GET", prefix)
        except kopf.PermanentError as exc:
            if _is_not_found(exc):
                return None
            raise
        return [str(r.get("name")) for r in answer.get("resources") or () if isinstance(r, dict)]

    # ----------------------------------------------------------------------------------
    # the LLMService

    async def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> Obj:
        """Replace what the operator reports, through the status subresource. A merge
        patch: maps merge (keys set to None are removed), lists such as the conditions
        are replaced whole, as intended."""
        self.metrics.writes.labels("status").inc()
        return await self._run(
            f"patch status of {KIND} {namespace}/{name}",
            "PATCH",
            LLMSERVICE.path(namespace, name) + "/status",
            body={"status": dict(status)},
            content_type=MERGE,
        )

    async def post_event(
        self,
        involved: Mapping[str, Any],
        *,
        type_: str,
        reason: str,
        message: str,
        now: datetime | None = None,
    ) -> None:
        """Record a core/v1 Event on the LLMService (what ``kubectl describe`` shows)."""
        meta = involved.get("metadata") or {}
        namespace = str(meta.get("namespace") or "default")
        moment = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{meta.get('name', 'llmservice')}.",
                "namespace": namespace,
            },
            "involvedObject": {
                "apiVersion": involved.get("apiVersion", f"{API_GROUP}/{API_VERSION}"),
                "kind": involved.get("kind", KIND),
                "name": meta.get("name"),
                "namespace": namespace,
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": naming.FIELD_MANAGER},
            "reportingComponent": naming.FIELD_MANAGER,
            "reportingInstance": socket.gethostname()[:128],
            "firstTimestamp": moment,
            "lastTimestamp": moment,
            "count": 1,
        }
        self.metrics.writes.labels("event").inc()
        try:
            await self._run(
                f"post event {reason} on {namespace}/{meta.get('name')}",
                "POST",
                EVENT.path(namespace),
                body=body,
                content_type="application/json",
            )
        except (kopf.TemporaryError, kopf.PermanentError) as exc:
            # An event is a courtesy to the user: losing one must not fail a reconcile.
            log.warning("could not record event %s: %s", reason, exc)


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of the answer behind a mapped error, if there was an answer."""
    cause = exc.__cause__
    return int(cause.status) if isinstance(cause, ApiException) and cause.status else None


def _is_not_found(exc: BaseException) -> bool:
    return http_status(exc) == 404
