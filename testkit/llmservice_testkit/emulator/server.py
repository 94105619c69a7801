"""The local Kubernetes API server: kmock's ``KubernetesEmulator`` made faithful enough for
kopf, the official kubernetes client and kubectl.

kmock supplies the HTTP server, request parsing and logging (``server.requests``), the
user-defined reaction DSL (``server['get /x'] << 404``), error rendering and the bundled
discovery data of the built-in resources. Requests for resources are served here instead of
kmock's own object tracking (see README.md, "Why not kmock's object store").
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml
from kmock import KubernetesEmulator, KubernetesResourceNotFoundError

from llmservice_testkit.emulator import (
    builtin_validation,
    defaults,
    jsoncache,
    kmock_private,
    metadata,
    openapi,
    paging,
    patching,
    schemas,
    selectors,
    ssa,
    tables,
)
from llmservice_testkit.emulator.clone import clone
from llmservice_testkit.emulator.collector import collect
from llmservice_testkit.emulator.errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    invalid,
    not_found,
)
from llmservice_testkit.emulator.faults import Faults
from llmservice_testkit.emulator.lru import BoundedLRU
from llmservice_testkit.emulator.registry import Registry, ResourceType
from llmservice_testkit.emulator.store import Event, Store

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
JSON = "application/json"


class _Created(dict[str, Any]):
    """An object a server-side apply created (answered 201, not 200)."""


class Target:
    """A parsed resource URL: which type, namespace, name and subresource."""

    def __init__(
        self, rt: ResourceType, namespace: str | None, name: str | None, sub: str | None
    ) -> None:
        self.rt = rt
        self.namespace = namespace if rt.namespaced else None
        self.name = name
        self.sub = sub


# libyaml's loader when PyYAML was built with it: the same documents, parsed in C.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_resource_path(path: str) -> tuple[str, str, str, str | None, str | None, str | None]:
    """``(group, version, plural, namespace, name, subresource)``; raises ValueError."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise ValueError(path)
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = "/".join(rest[2:]) or None
    return group, version, plural, namespace, name, sub


def _is_resource_path(path: str) -> bool:
    try:
        parse_resource_path(path)
    except (ValueError, IndexError):
        return False
    return True


def _version_key(obj: dict[str, Any] | None) -> tuple[str, str] | None:
    """Names one stored version of an object, whose content never changes."""
    meta = (obj or {}).get("metadata") or {}
    uid, version = meta.get("uid"), meta.get("resourceVersion")
    return (str(uid), str(version)) if uid and version else None


def _json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> aiohttp.web.Response:
    return aiohttp.web.Response(
        body=json.dumps(body).encode(), status=status, content_type=JSON, headers=headers
    )


@attrs.define(kw_only=True)
class ApiServer(KubernetesEmulator):
    """See the module docstring. Runs on one event loop; use ``thread.ServerThread`` to host it."""

    store: Store = attrs.field(factory=Store)
    faults: Faults = attrs.field(factory=Faults)
    # The JSON text of stored object versions, for lists, GETs and watch frames.
    json_texts: jsoncache.JsonCache = attrs.field(factory=jsoncache.JsonCache)
    # Snapshots behind the continue tokens of paged lists.
    pager: paging.Pager = attrs.field(factory=paging.Pager)
    registry: Registry = attrs.field(init=False)
    request_log_limit: int = 20000
    _gc_depth: int = attrs.field(default=0, init=False)
    # Objects the garbage collector has looked at, for tests that a write's cost stays flat.
    gc_visits: int = attrs.field(default=0, init=False)
    # The request's fieldValidation, read by _admit (requests are served one write at a time).
    _field_validation: str = attrs.field(default="", init=False)
    _dry_run: bool = attrs.field(default=False, init=False)
    # (uid, resourceVersion) of a stored object -> its managed-field leaves (ssa.leaves),
    # bounded in leaves (about 200 bytes each: 100,000 of them take some 20 MB).
    _leaves: BoundedLRU[tuple[str, str], dict[Any, Any]] = attrs.field(
        factory=lambda: BoundedLRU(max_entries=4096, max_key_bytes=100_000), init=False
    )

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.resources.load_bundled()
        for res in [r for r in self.resources if r.group == "metrics.k8s.io"]:
            del self.resources[res]  # served by metrics-server in a cluster; not emulated
        self.registry = Registry(self.resources)
        self.fallback["get /openapi/v3"] << self._serve_openapi_index
        for name in DEFAULT_NAMESPACES:
            self._create_namespace(name)

    # ---- kmock hooks (its private ones: see kmock_private.py) ---------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        """kmock's entry point, with the request parsed here for resource URLs.

        kmock parses every request fully (the body's JSON too, kept in the request log) and
        its path parser raises on the cluster-scoped ``/api/v1/namespaces`` collection
        (``namespaces`` read as a namespace prefix). Resource URLs are always served by
        ``_handle`` (parsed by ``parse_resource_path``), so they, and what kmock cannot
        parse, are logged with the HTTP fields only (method, URL, params, headers, body,
        text); the rest (discovery, ad-hoc reactions) goes through kmock as before.
        """
        kmock_private.trim_request_log(self, self.request_log_limit)
        content_type = raw_request.headers.get("Content-Type", "")
        if "protobuf" in content_type or "cbor" in content_type:
            await raw_request.read()
            return self._error(
                ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format ({content_type}) - "
                    "accepted media types include: application/json, application/yaml "
                    "(the local API server does not speak protobuf; use kubectl apply -f)",
                )
            )
        if not _is_resource_path(raw_request.path):
            try:
                kmock_private.parse_path(raw_request.path)
            except ValueError:
                pass
            else:
                return await super().__call__(raw_request)
        body = await raw_request.read()
        request = kmock.Request(
            id=kmock_private.next_request_id(self),
            method=raw_request.method,
            url=raw_request.url,
            params=dict(raw_request.query),
            headers=dict(raw_request.headers),
            body=body,
            text=body.decode(errors="replace"),
            raw_request=raw_request,
        )
        kmock_private.log_request(self, request)
        try:
            return await self._handle(request)
        except Exception as exc:
            # As kmock's entry point does: inside `async with server`, answer with the error
            # and re-raise it when the context exits; outside, let aiohttp deal with it.
            if not kmock_private.record_error(self, exc):
                raise
            return await kmock_private.render_error(self, exc)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        path = request.url.path
        fault = self.faults.match(str(request.method.value).upper(), path)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                return self._error(fault.error(f"{request.method.value.upper()} {path}"))
        try:
            if path.startswith(("/openapi/v3/apis/", "/openapi/v3/api/")):
                return self._serve_openapi_doc(path)
            discovery = await self._discovery(request, path.rstrip("/") or "/")
            if discovery is not None:
                return discovery
            try:
                group, version, plural, ns, name, sub = parse_resource_path(path)
            except ValueError:
                return await kmock_private.dispatch(self, request)
            rt = self.registry.get(group, version, plural)
            try:
                return await self._serve_resource(request, Target(rt, ns, name, sub))
            finally:
                self._field_validation, self._dry_run = "", False
        except ApiError as exc:
            return self._error(exc)

    async def _discovery(
        self, request: kmock.Request, path: str
    ) -> aiohttp.web.StreamResponse | None:
        """Discovery documents, with or without a trailing slash (clients send both)."""
        if str(request.method.value).upper() != "GET":
            return None
        parts = [p for p in path.split("/") if p]
        payload: Any = None
        if path == "/api":
            payload = await self._serve_api(request)
        elif path == "/apis":
            payload = await self._serve_apis(request)
        elif path == "/version":
            payload = await self._serve_server_version(request)
        elif len(parts) == 2 and parts[0] == "api":
            payload = self._version_doc("", parts[1])
        elif len(parts) == 2 and parts[0] == "apis":
            versions = self._groups().get(parts[1])
            if not versions:
                raise ApiError(
                    404,
                    "NotFound",
                    f"the server could not find the requested resource (group {parts[1]})",
                )
            payload = {
                "kind": "APIGroup",
                "apiVersion": "v1",
                **self._group_doc(parts[1], versions),
            }
        elif len(parts) == 3 and parts[0] == "apis":
            payload = self._version_doc(parts[1], parts[2])
        if payload is None:
            return None
        return _json_response(payload)

    def _error(self, exc: ApiError) -> aiohttp.web.Response:
        return _json_response(exc.status(), exc.code, exc.headers)

    async def _serve_version(self, request: kmock.Request) -> kmock.Payload:
        assert request.resource is not None
        return self._version_doc(str(request.resource.group), str(request.resource.version))

    def _version_doc(self, group: str, version: str) -> dict[str, Any]:
        found = [rt for rt in self.registry.all() if rt.group == group and rt.version == version]
        if not found:
            raise ApiError(
                404,
                "NotFound",
                f"the server could not find the requested resource ({group}/{version})",
            )
        resources = []
        for rt in found:
            verbs = [
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
            resources.append(
                {
                    "name": rt.plural,
                    "singularName": rt.singular,
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": verbs,
                    "shortNames": rt.short_names,
                    "categories": rt.categories,
                }
            )
            for sub in sorted(rt.subresources):
                kind = "Scale" if sub == "scale" else rt.kind
                resources.append(
                    {
                        "name": f"{rt.plural}/{sub}",
                        "singularName": "",
                        "namespaced": rt.namespaced,
                        "kind": kind,
                        "verbs": ["get", "patch", "update"],
                        **({"group": "autoscaling", "version": "v1"} if sub == "scale" else {}),
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }

    def _groups(self) -> dict[str, list[str]]:
        """Group -> served versions, preferred (highest) first: v2 > v1 > v1beta2 > v1beta1."""

        def rank(version: str) -> tuple[int, int, int]:
            import re

            m = re.match(r"v(\d+)(?:(alpha|beta)(\d+))?$", version)
            if not m:
                return (0, 0, 0)
            stage = {"alpha": 1, "beta": 2, None: 3}[m.group(2)]
            return (stage, int(m.group(1)), int(m.group(3) or 0))

        groups: dict[str, set[str]] = {}
        for rt in self.registry.all():
            if rt.group:
                groups.setdefault(rt.group, set()).add(rt.version)
        return {g: sorted(v, key=rank, reverse=True) for g, v in sorted(groups.items())}

    @staticmethod
    def _group_doc(group: str, versions: list[str]) -> dict[str, Any]:
        return {
            "name": group,
            "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
            "preferredVersion": {"groupVersion": f"{group}/{versions[0]}", "version": versions[0]},
        }

    async def _serve_api(self, request: kmock.Request) -> kmock.Payload:
        host = request.headers.get("Host", "127.0.0.1")
        return {
            "kind": "APIVersions",
            "apiVersion": "v1",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
        }

    async def _serve_apis(self, request: kmock.Request) -> kmock.Payload:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [self._group_doc(g, v) for g, v in self._groups().items()],
        }

    async def _serve_group(self, request: kmock.Request) -> kmock.Payload:
        assert request.resource is not None
        versions = self._groups().get(str(request.resource.group))
        if not versions:
            raise KubernetesResourceNotFoundError()
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            **self._group_doc(str(request.resource.group), versions),
        }

    async def _serve_server_version(self, request: kmock.Request) -> kmock.Payload:
        return {
            "major": "1",
            "minor": "32",
            "gitVersion": "v1.32.0-llmservice-testing",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.23",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    async def _serve_openapi_index(self, request: kmock.Request) -> kmock.Payload:
        return openapi.index(self.registry)

    def _serve_openapi_doc(self, path: str) -> aiohttp.web.StreamResponse:
        parts = path.removeprefix("/openapi/v3/").split("/")
        doc = None
        if parts[0] == "api" and len(parts) == 2:
            doc = openapi.group_version_doc(self.registry, "", parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            doc = openapi.group_version_doc(self.registry, parts[1], parts[2])
        if doc is None:
            raise ApiError(404, "NotFound", f"no OpenAPI document for {path}")
        return _json_response(doc)

    # ---- resource requests -------------------------------------------------------------------

    async def _serve_resource(
        self, request: kmock.Request, target: Target
    ) -> aiohttp.web.StreamResponse:
        method = str(request.method.value).upper()
        params = request.params
        self._field_validation = params.get("fieldValidation", "")
        self._dry_run = params.get("dryRun", "") == "All"
        if target.sub is not None and target.sub not in target.rt.subresources:
            raise ApiError(
                404,
                "NotFound",
                f"the server could not find the requested resource "
                f"({target.rt.plural}/{target.sub})",
            )
        if method == "GET" and params.get("watch") in ("1", "true") and target.sub is None:
            return await self._watch(request, target)
        if target.name is None:
            if method == "GET":
                return self._list(request, target)
            if method == "POST":
                if target.rt.namespaced and target.namespace is None:
                    raise ApiError(
                        405,
                        "MethodNotAllowed",
                        f"create {target.rt.plural} through "
                        "its namespace: /namespaces/<namespace>/" + target.rt.plural,
                    )
                body = self._body(request)
                created = self.create_object(
                    target.rt, target.namespace, body, self._manager(request)
                )
                return self._respond(request, target.rt, created, 201)
            if method == "DELETE":
                return self._delete_collection(request, target)
        else:
            if method == "GET":
                obj = self._get(target)
                if target.sub == "scale":
                    return _json_response(self._scale_of(target.rt, obj))
                if not tables.wants_table(request.headers.get("Accept", "")):
                    text = self.json_texts.dumps(obj)  # a stored version: its text is kept
                    return aiohttp.web.Response(body=text.encode(), content_type=JSON)
                return self._respond(request, target.rt, obj)
            if method == "PUT":
                return self._respond(request, target.rt, self._put(request, target))
            if method == "PATCH":
                patched = self._patch(request, target)
                status = 201 if isinstance(patched, _Created) else 200
                return self._respond(request, target.rt, dict(patched), status)
            if method == "DELETE":
                return self._respond(request, target.rt, self._delete(request, target))
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {request.url.path}")

    def _respond(
        self, request: kmock.Request, rt: ResourceType, obj: dict[str, Any], status: int = 200
    ) -> aiohttp.web.Response:
        accept = request.headers.get("Accept", "")
        if tables.wants_table(accept):
            include = request.params.get("includeObject", "Metadata")
            return _json_response(tables.table(rt, [obj], str(self.store.rv), include), status)
        return _json_response(obj, status)

    @staticmethod
    def _manager(request: kmock.Request) -> str:
        manager = request.params.get("fieldManager")
        if manager:
            return manager
        agent = request.headers.get("User-Agent", "unknown")
        return agent.split("/")[0] or "unknown"

    @staticmethod
    def _body(request: kmock.Request) -> Any:
        content_type = request.headers.get("Content-Type", JSON).split(";")[0].strip()
        if "protobuf" in content_type or "cbor" in content_type:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an "
                f"unknown format ({content_type}) - accepted media types include: "
                f"application/json, application/yaml",
            )
        try:
            if content_type == "application/apply-patch+yaml":
                # Most clients send JSON, which is YAML too; json parses it many times faster.
                text = request.body.decode() or "null"
                try:
                    return json.loads(text)
                except ValueError:
                    return yaml.load(text, Loader=_YAML_LOADER)
            return json.loads(request.body.decode() or "null")
        except (ValueError, yaml.YAMLError) as exc:
            raise bad_request(f"the request body is not valid {content_type}: {exc}") from exc

    def _get(self, target: Target) -> dict[str, Any]:
        assert target.name is not None
        obj = self.store.get(target.rt.storage_key, (target.namespace, target.name))
        if obj is None:
            raise not_found(target.rt.plural, target.name, target.rt.group)
        return self._as_version(target.rt, obj)

    @staticmethod
    def _as_version(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        if obj.get("apiVersion") == rt.api_version:
            return obj
        return {**obj, "apiVersion": rt.api_version}

    # ---- lists and watches -------------------------------------------------------------------

    def _filters(self, request: kmock.Request) -> Callable[[dict[str, Any]], bool]:
        try:
            labels = selectors.parse_label_selector(request.params.get("labelSelector"))
            fields = selectors.parse_field_selector(request.params.get("fieldSelector"))
        except ValueError as exc:
            raise bad_request(str(exc)) from exc

        def check(obj: dict[str, Any]) -> bool:
            meta = obj.get("metadata", {})
            return selectors.match_labels(labels, meta.get("labels")) and selectors.match_fields(
                fields, obj
            )

        return check

    def _list(self, request: kmock.Request, target: Target) -> aiohttp.web.Response:
        check = self._filters(request)
        params = request.params
        limit = paging.parse_limit(params.get("limit"))
        token = params.get("continue") or ""
        storage = target.rt.storage_key
        if token and params.get("resourceVersion"):
            raise bad_request("specifying resourceVersion is not allowed when using continue")

        def keep(obj: dict[str, Any]) -> bool:
            in_scope = target.namespace is None or obj["metadata"].get("namespace") == (
                target.namespace
            )
            return in_scope and check(obj)

        list_meta: dict[str, Any]
        if token or limit:
            if token:
                snap, after = self.pager.resume(
                    token,
                    storage,
                    lambda: (self.store.rv, list(self.store.objects[storage].values())),
                )
            else:
                objects = list(self.store.objects[storage].values())
                snap, after = self.pager.snapshot(storage, self.store.rv, objects), None
            filtered = bool(params.get("labelSelector") or params.get("fieldSelector"))
            page = self.pager.page(snap, after, limit or len(snap.objects), keep, not filtered)
            found = page.items
            list_meta = {"resourceVersion": str(page.resource_version)}
            if page.continue_token:
                list_meta["continue"] = page.continue_token
            if page.remaining is not None:
                list_meta["remainingItemCount"] = page.remaining
        else:
            found = [o for o in self.store.items(storage, target.namespace) if check(o)]
            list_meta = {"resourceVersion": str(self.store.rv)}
        objs = [self._as_version(target.rt, o) for o in found]
        if tables.wants_table(request.headers.get("Accept", "")):
            include = params.get("includeObject", "Metadata")
            table = tables.table(target.rt, objs, list_meta["resourceVersion"], include)
            table["metadata"] = list_meta
            return _json_response(table)
        envelope = {
            "kind": f"{target.rt.kind}List",
            "apiVersion": target.rt.api_version,
            "metadata": list_meta,
        }
        body = jsoncache.list_body(envelope, [self.json_texts.dumps(o) for o in objs])
        return aiohttp.web.Response(body=body, status=200, content_type=JSON)

    async def _watch(self, request: kmock.Request, target: Target) -> aiohttp.web.StreamResponse:
        check = self._filters(request)
        rt = target.rt
        as_table = tables.wants_table(request.headers.get("Accept", ""))
        include = request.params.get("includeObject", "Metadata")
        rv_text = request.params.get("resourceVersion", "")
        timeout = _whole_seconds(request.params.get("timeoutSeconds"), 1800)

        def scoped(obj: dict[str, Any] | None) -> bool:
            if obj is None:
                return False
            ns = obj.get("metadata", {}).get("namespace")
            name = obj.get("metadata", {}).get("name")
            if target.namespace is not None and ns != target.namespace:
                return False
            if target.name is not None and name != target.name:
                return False
            return check(obj)

        def frame(kind: str, obj: dict[str, Any]) -> bytes:
            body: Any = self._as_version(rt, obj)
            if as_table:
                body = tables.table(rt, [body], obj["metadata"].get("resourceVersion", ""), include)
                return json.dumps({"type": kind, "object": body}).encode() + b"\n"
            # Stored versions, and removed ones (a fresh resourceVersion each): cacheable.
            return jsoncache.watch_frame(kind, self.json_texts.dumps(body))

        rendering_key = (rt.group, rt.version, rt.plural, as_table, include)

        def event_frame(kind: str, event: Event) -> bytes:
            key = (kind, *rendering_key)
            cached = event.frames.get(key)
            if cached is None:
                cached = event.frames[key] = frame(kind, event.obj)
            return cached

        def translate(event: Event) -> bytes | None:
            now_in, was_in = scoped(event.obj), scoped(event.prev)
            if event.type == "DELETED":
                return event_frame("DELETED", event) if (was_in or now_in) else None
            if now_in and not was_in and event.prev is not None:
                return event_frame("ADDED", event)
            if now_in:
                return event_frame(event.type, event)
            if was_in:
                return event_frame("DELETED", event)
            return None

        # Everything up to subscribing happens without awaiting: no event can slip in between.
        initial: list[bytes] = []
        if rv_text in ("", "0"):
            initial = [
                frame("ADDED", o)
                for o in self.store.items(rt.storage_key, target.namespace)
                if scoped(o)
            ]
        else:
            try:
                since = self.store.since(rt.storage_key, int(rv_text))
            except ValueError as exc:
                raise bad_request(f"invalid resourceVersion {rv_text!r}") from exc
            if since is None:
                # As the API server does: 200, then one ERROR event carrying 410 Expired
                # (kopf and client-go restart from a fresh list when they read it).
                expired = ApiError(
                    410,
                    "Expired",
                    f"too old resource version: {rv_text} ({self.store.oldest})",
                )
                error_frame = json.dumps({"type": "ERROR", "object": expired.status()})
                return await self._stream_once(request, error_frame.encode() + b"\n")
            initial = [f for f in (translate(e) for e in since) if f is not None]
        watcher = self.store.subscribe(rt.storage_key)

        raw = request._raw_request
        assert raw is not None
        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": JSON})
        try:
            await response.prepare(raw)
            for chunk in initial:
                await response.write(chunk)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), remaining)
                except TimeoutError:
                    break
                if event is None:
                    break  # cut on purpose (fault injection) or server shutdown
                chunk_or_none = translate(event)
                if chunk_or_none is not None:
                    await response.write(chunk_or_none)
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.unsubscribe(watcher)
        return response

    async def _stream_once(
        self, request: kmock.Request, chunk: bytes
    ) -> aiohttp.web.StreamResponse:
        raw = request._raw_request
        assert raw is not None
        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": JSON})
        await response.prepare(raw)
        await response.write(chunk)
        await response.write_eof()
        return response

    # ---- the write pipeline ------------------------------------------------------------------

    def _namespace_check(self, rt: ResourceType, namespace: str | None) -> None:
        if not rt.namespaced or namespace is None:
            return
        ns = self.store.get(("", "namespaces"), (None, namespace))
        if ns is None:
            raise not_found("namespaces", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace "
                f"{namespace} because it is being terminated",
            )

    def _admit(
        self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> dict[str, Any]:
        name = obj.get("metadata", {}).get("name", "")
        if obj.get("kind") not in (None, rt.kind) or obj.get("apiVersion") not in (
            None,
            rt.api_version,
        ):
            raise bad_request(
                f"the API version in the data ({obj.get('apiVersion')}) and kind "
                f"({obj.get('kind')}) do not match the resource {rt.api_version}, {rt.kind}"
            )
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        errors = metadata.validate(rt.kind, obj.get("metadata") or {})
        if rt.schema is not None:
            dropped: list[str] = []
            obj, more = schemas.admit(rt.schema, obj, old, dropped)
            if dropped and self._field_validation == "Strict":
                raise bad_request(
                    f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                    + ", ".join(f'strict decoding error: unknown field "{p}"' for p in dropped)
                )
            errors += more
        else:
            defaults.apply(rt.kind, obj, creating=old is None)
            errors += builtin_validation.validate(obj)
        if errors:
            raise invalid(rt.kind, rt.group, name, errors)
        return obj

    def commit(
        self,
        rt: ResourceType,
        old: dict[str, Any] | None,
        new: dict[str, Any],
        manager: str | None,
        sub: str = "",
    ) -> dict[str, Any]:
        """Validate, account managed fields, store (or skip a no-op), finalize, collect: the
        last step of every write, the garbage collector's (:mod:`.collector`) included."""
        new = self._admit(rt, new, old)
        if rt.plural == "customresourcedefinitions" and rt.group == "apiextensions.k8s.io":
            new = self._crd_admit(new)
        after = None
        if manager is not None:
            old_key = _version_key(old)
            before = self._leaves.get(old_key) if old_key is not None else None
            after = ssa.record_update(
                old, new, manager, rt.api_version, metadata.now(), sub, before
            )
        if old is not None:
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            if new == old:
                return old
        if self._dry_run:
            return new  # validated and defaulted, as a real dryRun=All write answers
        meta = new["metadata"]
        if (
            meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and not (rt.kind == "Namespace" and (new.get("spec") or {}).get("finalizers"))
        ):
            gone = self.store.remove(rt.storage_key, new)
            self._after_delete(rt, gone)
            self._collect()
            return gone
        stored = self.store.put(rt.storage_key, new, "ADDED" if old is None else "MODIFIED")
        stored_key = _version_key(stored)
        if after is not None and stored_key is not None:
            # The stored object differs from `new` only in resourceVersion, which owns no
            # field: its leaves are `after`, and the next update of it needs them.
            self._leaves.put(stored_key, after, len(after))
        if rt.group == "apiextensions.k8s.io" and rt.plural == "customresourcedefinitions":
            self.registry.register_crd(stored)
        self._collect()
        return stored

    def create_object(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: Any,
        manager: str | None = None,
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("the request body must be an object")
        self._namespace_check(rt, namespace)
        obj = metadata.on_create(body, namespace if rt.namespaced else None)
        if "status" in rt.subresources:
            obj.pop("status", None)
        name = obj["metadata"]["name"]
        if self.store.get(rt.storage_key, (obj["metadata"].get("namespace"), name)) is not None:
            raise already_exists(rt.plural, name, rt.group)
        return self.commit(rt, None, obj, manager)

    def _precondition(self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> None:
        wanted = (new.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != old["metadata"]["resourceVersion"]:
            raise conflict(
                rt.plural,
                old["metadata"]["name"],
                rt.group,
                "the object has been modified; please apply your changes to the latest version "
                "and try again",
            )

    def _with_subresource_rules(
        self, rt: ResourceType, old: dict[str, Any], candidate: dict[str, Any], sub: str | None
    ) -> dict[str, Any]:
        if sub == "status":
            merged = clone(old)
            if "status" in candidate:
                merged["status"] = candidate["status"]
            else:
                merged.pop("status", None)
            return merged
        if "status" in rt.subresources:
            candidate = dict(candidate)
            if "status" in old:
                candidate["status"] = clone(old["status"])
            else:
                candidate.pop("status", None)
        return candidate

    def _put(self, request: kmock.Request, target: Target) -> dict[str, Any]:
        old = self._get(target)
        body = self._body(request)
        if not isinstance(body, dict):
            raise bad_request("the request body must be an object")
        rt = target.rt
        if target.sub == "scale":
            return self._write_scale(rt, old, body, self._manager(request))
        name = (body.get("metadata") or {}).get("name")
        if name not in (None, target.name):
            raise bad_request(
                f"the name of the object ({name}) does not match the name on the "
                f"URL ({target.name})"
            )
        if rt.schema is not None and not (body.get("metadata") or {}).get("resourceVersion"):
            raise invalid(
                rt.kind,
                rt.group,
                str(target.name),
                [
                    (
                        "metadata.resourceVersion",
                        "Invalid value: 0x0: must be specified for an update",
                    )
                ],
            )
        self._precondition(rt, old, body)
        new = self._with_subresource_rules(rt, old, body, target.sub)
        new = metadata.on_update(old, new)
        return self.commit(rt, old, new, self._manager(request), target.sub or "")

    def _patch(self, request: kmock.Request, target: Target) -> dict[str, Any]:
        rt = target.rt
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        kind = PATCH_TYPES.get(content_type)
        if kind is None:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media "
                f"types include: {', '.join(PATCH_TYPES)}",
            )
        if kind == "strategic" and rt.schema is not None:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "strategic merge patch is not supported "
                "for custom resources; use a merge or JSON patch",
            )
        body = self._body(request)
        manager = self._manager(request)
        if kind == "apply":
            existed = self.store.get(rt.storage_key, (target.namespace, str(target.name)))
            applied = self._apply(request, target, body)
            return applied if existed is not None else _Created(applied)
        old = self._get(target)
        if target.sub == "scale":
            current = self._scale_of(rt, old)
            patched_scale = self._apply_patch(kind, current, body)
            return self._write_scale(rt, old, patched_scale, manager)
        patched = self._apply_patch(kind, old, body)
        self._precondition(rt, old, patched)
        new = self._with_subresource_rules(rt, old, patched, target.sub)
        new = metadata.on_update(old, new)
        return self.commit(rt, old, new, manager, target.sub or "")

    @staticmethod
    def _apply_patch(kind: str, current: dict[str, Any], body: Any) -> dict[str, Any]:
        try:
            if kind == "json":
                return patching.json_patch(current, body)
            if kind == "merge":
                result: dict[str, Any] = patching.merge_patch(current, body)
                return result
            strategic: dict[str, Any] = patching.strategic_merge_patch(current, body)
            return strategic
        except patching.PatchTestFailed as exc:
            raise ApiError(
                422,
                "Invalid",
                f"the server rejected our request due to an error in our request: {exc}",
            ) from exc
        except patching.PatchInvalid as exc:
            raise ApiError(422, "Invalid", f"the patch is invalid: {exc}") from exc

    def _apply(self, request: kmock.Request, target: Target, body: Any) -> dict[str, Any]:
        rt = target.rt
        manager = request.params.get("fieldManager")
        if not manager:
            raise bad_request("PATCH /apply requires a fieldManager query parameter")
        if not isinstance(body, dict):
            raise bad_request("an applied configuration must be an object")
        force = request.params.get("force") in ("true", "1")
        name = (body.get("metadata") or {}).get("name")
        if name != target.name:
            raise bad_request(
                f"the name of the applied object ({name}) does not match the URL ({target.name})"
            )
        old = self.store.get(rt.storage_key, (target.namespace, str(target.name)))
        if old is not None:
            old = self._as_version(rt, old)
        applied = clone(body)
        if target.sub != "status" and "status" in rt.subresources:
            applied.pop("status", None)
        if target.sub == "status":
            applied = {
                k: v
                for k, v in applied.items()
                if k in ("apiVersion", "kind", "status", "metadata")
            }
            applied["metadata"] = {"name": target.name}
        if old is None:
            if target.sub:
                raise not_found(rt.plural, str(target.name), rt.group)
            self._namespace_check(rt, target.namespace)
            fresh = ssa.apply(None, applied, manager, force, rt.api_version, metadata.now())
            fresh = metadata.on_create(fresh, target.namespace)
            return self.commit(rt, None, fresh, None)
        self._precondition(rt, old, applied)
        result = ssa.apply(
            old, applied, manager, force, rt.api_version, metadata.now(), target.sub or ""
        )
        result = self._with_subresource_rules(rt, old, result, target.sub)
        if target.sub == "status":
            result["metadata"]["managedFields"] = ssa.apply(
                old, applied, manager, force, rt.api_version, metadata.now(), "status"
            )["metadata"].get("managedFields", [])
        result = metadata.on_update(old, result)
        return self.commit(rt, old, result, None)

    # ---- scale -------------------------------------------------------------------------------

    def _scale_paths(self, rt: ResourceType) -> tuple[str, str, str | None]:
        if rt.scale is not None:
            return (
                rt.scale.get("specReplicasPath", ".spec.replicas"),
                rt.scale.get("statusReplicasPath", ".status.replicas"),
                rt.scale.get("labelSelectorPath"),
            )
        return ".spec.replicas", ".status.replicas", None

    def _scale_of(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        spec_path, status_path, selector_path = self._scale_paths(rt)
        selector: Any = tables.json_path(obj, selector_path) if selector_path else None
        if selector is None and rt.schema is None:
            match = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            selector = ",".join(f"{k}={v}" for k, v in sorted(match.items())) or None
        meta = obj["metadata"]
        status: dict[str, Any] = {"replicas": tables.json_path(obj, status_path) or 0}
        if selector:
            status["selector"] = selector
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": tables.json_path(obj, spec_path) or 0},
            "status": status,
        }

    def _write_scale(
        self, rt: ResourceType, old: dict[str, Any], scale: dict[str, Any], manager: str
    ) -> dict[str, Any]:
        self._precondition(rt, old, scale)
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise invalid(
                "Scale",
                "autoscaling",
                old["metadata"]["name"],
                [
                    (
                        "spec.replicas",
                        f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                    )
                ],
            )
        spec_path = self._scale_paths(rt)[0]
        new = clone(old)
        node = new
        keys = [k for k in spec_path.split(".") if k]
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = replicas
        new = metadata.on_update(old, new)
        stored = self.commit(rt, old, new, manager, "scale")
        return self._scale_of(rt, stored)

    # ---- deletion, garbage collection, CRDs --------------------------------------------------

    def _delete_options(self, request: kmock.Request) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if request.body:
            try:
                loaded = json.loads(request.body.decode())
            except ValueError as exc:
                raise bad_request(f"invalid DeleteOptions: {exc}") from exc
            if isinstance(loaded, dict):
                options.update(loaded)
        if "propagationPolicy" in request.params:
            options["propagationPolicy"] = request.params["propagationPolicy"]
        return options

    def _delete(self, request: kmock.Request, target: Target) -> dict[str, Any]:
        obj = self._get(target)
        options = self._delete_options(request)
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != obj["metadata"]["uid"]:
            raise conflict(
                target.rt.plural,
                str(target.name),
                target.rt.group,
                "Precondition failed: UID in precondition does not match",
            )
        if (
            pre.get("resourceVersion")
            and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]
        ):
            raise conflict(
                target.rt.plural,
                str(target.name),
                target.rt.group,
                "Precondition failed: resourceVersion in precondition does not match",
            )
        return self.delete_object(target.rt, obj, options.get("propagationPolicy") or "Background")

    def delete_object(
        self, rt: ResourceType, obj: dict[str, Any], policy: str = "Background"
    ) -> dict[str, Any]:
        """Mark for deletion (finalizers pending) or remove; the collector does the rest."""
        if policy not in ("Background", "Foreground", "Orphan"):
            raise bad_request(f"invalid propagationPolicy {policy!r}")
        old = self.store.get(
            rt.storage_key, (obj["metadata"].get("namespace"), obj["metadata"]["name"])
        )
        if old is None:
            raise not_found(rt.plural, obj["metadata"]["name"], rt.group)
        if self._dry_run:
            return self._as_version(rt, old)
        new = clone(old)
        meta = new["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        if rt.kind == "Namespace":
            new.setdefault("status", {})["phase"] = "Terminating"
        if finalizers or (rt.kind == "Namespace" and (new.get("spec") or {}).get("finalizers")):
            if meta.get("deletionTimestamp") and finalizers == list(meta.get("finalizers") or []):
                return self._as_version(rt, old)
            meta.setdefault("deletionTimestamp", metadata.now())
            meta.setdefault("deletionGracePeriodSeconds", 0)
            if finalizers:
                meta["finalizers"] = finalizers
            stored = self.store.put(rt.storage_key, new, "MODIFIED")
            self._collect()
            return self._as_version(rt, stored)
        gone = self.store.remove(rt.storage_key, old)
        self._after_delete(rt, gone)
        self._collect()
        return self._as_version(rt, gone)

    def _delete_collection(self, request: kmock.Request, target: Target) -> aiohttp.web.Response:
        check = self._filters(request)
        policy = self._delete_options(request).get("propagationPolicy") or "Background"
        deleted = []
        for obj in self.store.items(target.rt.storage_key, target.namespace):
            if check(obj):
                deleted.append(self.delete_object(target.rt, obj, policy))
        return _json_response(
            {
                "kind": f"{target.rt.kind}List",
                "apiVersion": target.rt.api_version,
                "metadata": {"resourceVersion": str(self.store.rv)},
                "items": deleted,
            }
        )

    def _after_delete(self, rt: ResourceType, gone: dict[str, Any]) -> None:
        if rt.group == "apiextensions.k8s.io" and rt.plural == "customresourcedefinitions":
            for served in self.registry.unregister_crd(gone["metadata"]["name"]):
                for obj in list(self.store.items(served.storage_key, None)):
                    self.store.remove(served.storage_key, obj)

    def _collect(self) -> None:
        if self._gc_depth:
            return  # the outermost collection pass sees every change
        self._gc_depth += 1
        try:
            collect(self)
        finally:
            self._gc_depth -= 1

    def _crd_admit(self, crd: dict[str, Any]) -> dict[str, Any]:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        errors: list[tuple[str, str]] = []
        for key in ("plural", "kind"):
            if not names.get(key):
                errors.append((f"spec.names.{key}", "Required value"))
        if not spec.get("group"):
            errors.append(("spec.group", "Required value"))
        if not spec.get("versions"):
            errors.append(("spec.versions", "Required value"))
        expected = f"{names.get('plural')}.{spec.get('group')}"
        if crd["metadata"]["name"] != expected:
            errors.append(
                (
                    "metadata.name",
                    f'Invalid value: "{crd["metadata"]["name"]}": must '
                    f'be spec.names.plural+"."+spec.group',
                )
            )
        if errors:
            raise invalid(
                "CustomResourceDefinition", "apiextensions.k8s.io", crd["metadata"]["name"], errors
            )
        accepted = {
            "plural": names["plural"],
            "kind": names["kind"],
            "singular": names.get("singular", names["kind"].lower()),
            "listKind": names.get("listKind", names["kind"] + "List"),
        }
        if names.get("shortNames"):
            accepted["shortNames"] = names["shortNames"]
        if names.get("categories"):
            accepted["categories"] = names["categories"]
        stamp = (
            (crd.get("status") or {})
            .get("conditions", [{}])[0]
            .get("lastTransitionTime", metadata.now())
        )
        crd["status"] = {
            "acceptedNames": accepted,
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": stamp,
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": stamp,
                },
            ],
            "storedVersions": [v["name"] for v in spec["versions"] if v.get("storage")],
        }
        return crd

    def _create_namespace(self, name: str) -> None:
        rt = self.registry.get("", "v1", "namespaces")
        self.create_object(rt, None, {"metadata": {"name": name}}, None)

    # ---- test controls -----------------------------------------------------------------------

    def cut_watches(self) -> None:
        """End every open watch stream now (clients must re-list or resume)."""
        self.store.cut_watches()

    def expire_resource_versions(self) -> None:
        """Forget the event history: resuming a watch from any older version, or continuing a
        paged list, gets 410 Gone."""
        self.store.expire()
        self.pager.clear()


def _whole_seconds(raw: str | None, default: int) -> int:
    """``timeoutSeconds`` as kube-apiserver reads it: an integer, or 400 BadRequest."""
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f'strconv.ParseInt: parsing "{raw}": invalid syntax') from None
