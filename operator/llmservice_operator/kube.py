"""Thin, typed access to the Kubernetes API for the reconciler.

The official (synchronous) client runs in a small thread pool of our own, so API calls
never block kopf's event loop and at most ``workers`` requests are in flight. Responses
are read as plain JSON (``_preload_content=False``): the reconciler works on dicts, and
turning every Deployment into the client's model classes would cost more CPU than the
request itself when a thousand LLMServices reconcile at once.

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
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import kopf
import urllib3
from kubernetes import client as k8s

from llmservice_operator import labels
from llmservice_operator.metrics import METRICS, Metrics
from llmservice_operator.models import API_GROUP, API_VERSION, KIND, PLURAL

log = logging.getLogger(__name__)
Obj = dict[str, Any]
_T = TypeVar("_T")

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
RETRYABLE_STATUS = frozenset({409, 429, 500, 502, 503, 504})
REQUEST_TIMEOUT = (10.0, 30.0)  # connect, read


@dataclass(frozen=True)
class ChildKind:
    """How to reach one kind of child through the typed client."""

    api_version: str
    kind: str
    api: type
    suffix: str  # the client method suffix: patch_<suffix>, read_<suffix>, ...


DEPLOYMENT = ChildKind("apps/v1", "Deployment", k8s.AppsV1Api, "namespaced_deployment")
SERVICE = ChildKind("v1", "Service", k8s.CoreV1Api, "namespaced_service")
HPA = ChildKind(
    "autoscaling/v2",
    "HorizontalPodAutoscaler",
    k8s.AutoscalingV2Api,
    "namespaced_horizontal_pod_autoscaler",
)
CLAIM = ChildKind(
    "v1", "PersistentVolumeClaim", k8s.CoreV1Api, "namespaced_persistent_volume_claim"
)
POD = ChildKind("v1", "Pod", k8s.CoreV1Api, "namespaced_pod")
CHILD_KINDS = {ck.kind: ck for ck in (DEPLOYMENT, SERVICE, HPA, CLAIM)}


def child_kind(manifest: Mapping[str, Any]) -> ChildKind:
    try:
        return CHILD_KINDS[str(manifest["kind"])]
    except KeyError:
        raise ValueError(
            f"not a child kind the operator manages: {manifest.get('kind')!r}"
        ) from None


def describe(exc: BaseException) -> str:
    """A one-line account of an API failure, with the server's message when it sent one."""
    if isinstance(exc, k8s.ApiException):
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
    if isinstance(exc, k8s.ApiException):
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


def _json(response: Any) -> Obj:
    data = response.data
    if not data:
        return {}
    parsed = json.loads(data)
    return parsed if isinstance(parsed, dict) else {}


class Kube:
    """The API calls the reconciler makes, each awaitable and error-mapped."""

    def __init__(
        self,
        api_client: k8s.ApiClient | None = None,
        workers: int = 8,
        metrics: Metrics = METRICS,
        field_manager: str = labels.FIELD_MANAGER,
    ) -> None:
        self.api_client = api_client or k8s.ApiClient()
        # The client's connection pool must hold as many connections as threads use it.
        self.api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] = workers
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="kube-api")
        self._apis: dict[type, Any] = {}
        self.metrics = metrics
        self.field_manager = field_manager

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.api_client.close()  # type: ignore[no-untyped-call]

    def _api(self, cls: type) -> Any:
        if cls not in self._apis:
            self._apis[cls] = cls(self.api_client)
        return self._apis[cls]

    async def _run(self, what: str, fn: Callable[[], _T]) -> _T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn)
        except Exception as exc:
            mapped = map_error(exc, what)
            kind = "retryable" if isinstance(mapped, kopf.TemporaryError) else "permanent"
            self.metrics.errors.labels(kind).inc()
            if mapped is exc:
                raise
            raise mapped from exc

    # ----------------------------------------------------------------------------------
    # children

    async def apply(self, manifest: Mapping[str, Any]) -> Obj:
        """Server-side apply of one child (force: the operator owns the fields it sets).
        Returns the object as stored."""
        ck = child_kind(manifest)
        meta = manifest["metadata"]
        name, namespace = meta["name"], meta["namespace"]
        method = getattr(self._api(ck.api), f"patch_{ck.suffix}")
        self.metrics.writes.labels(ck.kind).inc()
        response = await self._run(
            f"apply {ck.kind} {namespace}/{name}",
            lambda: method(
                name,
                namespace,
                dict(manifest),
                field_manager=self.field_manager,
                force=True,
                _content_type=APPLY,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            ),
        )
        return _json(response)

    async def get(self, ck: ChildKind, namespace: str, name: str) -> Obj | None:
        method = getattr(self._api(ck.api), f"read_{ck.suffix}")
        try:
            response = await self._run(
                f"get {ck.kind} {namespace}/{name}",
                lambda: method(
                    name, namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
                ),
            )
        except kopf.PermanentError as exc:
            if _is_not_found(exc):
                return None
            raise
        return _json(response)

    async def list(self, ck: ChildKind, namespace: str, selector: str) -> list[Obj]:
        method = getattr(self._api(ck.api), f"list_{ck.suffix}")
        response = await self._run(
            f"list {ck.kind} in {namespace} ({selector})",
            lambda: method(
                namespace,
                label_selector=selector,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            ),
        )
        items = _json(response).get("items") or []
        return [item for item in items if isinstance(item, dict)]

    async def delete(self, ck: ChildKind, namespace: str, name: str, uid: str | None) -> bool:
        """Delete a child; with ``uid``, only that very object (never a namesake made since).
        False when it was already gone."""
        method = getattr(self._api(ck.api), f"delete_{ck.suffix}")
        body: Obj = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if uid:
            body["preconditions"] = {"uid": uid}
        self.metrics.writes.labels(f"delete {ck.kind}").inc()
        try:
            await self._run(
                f"delete {ck.kind} {namespace}/{name}",
                lambda: method(
                    name,
                    namespace,
                    body=body,
                    _preload_content=False,
                    _request_timeout=REQUEST_TIMEOUT,
                ),
            )
        except kopf.PermanentError as exc:
            if _is_not_found(exc):
                return False
            raise
        return True

    # ----------------------------------------------------------------------------------
    # the LLMService

    async def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> Obj:
        """Replace what the operator reports, through the status subresource."""
        api = self._api(k8s.CustomObjectsApi)
        self.metrics.writes.labels("status").inc()
        # A merge patch merges maps; conditions are a list, replaced whole, as intended.
        body = {"status": dict(status)}
        response = await self._run(
            f"patch status of {KIND} {namespace}/{name}",
            lambda: api.patch_namespaced_custom_object_status(
                API_GROUP,
                API_VERSION,
                namespace,
                PLURAL,
                name,
                body,
                _content_type=MERGE,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            ),
        )
        return _json(response)

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
            "source": {"component": labels.FIELD_MANAGER},
            "reportingComponent": labels.FIELD_MANAGER,
            "reportingInstance": socket.gethostname()[:128],
            "firstTimestamp": moment,
            "lastTimestamp": moment,
            "count": 1,
        }
        api = self._api(k8s.CoreV1Api)
        self.metrics.writes.labels("event").inc()
        try:
            await self._run(
                f"post event {reason} on {namespace}/{meta.get('name')}",
                lambda: api.create_namespaced_event(
                    namespace, body, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
                ),
            )
        except (kopf.TemporaryError, kopf.PermanentError) as exc:
            # An event is a courtesy to the user: losing one must not fail a reconcile.
            log.warning("could not record event %s: %s", reason, exc)


def _is_not_found(exc: BaseException) -> bool:
    cause = exc.__cause__
    return isinstance(cause, k8s.ApiException) and cause.status == 404


def api_client_from_environment() -> k8s.ApiClient:
    """A client for the cluster the operator runs in, or the current kubeconfig context."""
    from kubernetes import config

    configuration = k8s.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return k8s.ApiClient(configuration)
