"""``/openapi/v3`` documents: CRD schemas for ``kubectl explain``, and PATCH operations that
declare the ``fieldValidation`` parameter so kubectl leaves validation to the server.

Built-in kinds get no schemas here: ``kubectl explain deployment`` is out of scope.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from llmservice_testkit.emulator.registry import Registry, ResourceType


def _schema_name(rt: ResourceType) -> str:
    reversed_group = ".".join(reversed(rt.group.split("."))) if rt.group else "io.k8s.api.core"
    return f"{reversed_group}.{rt.version}.{rt.kind}"


def _prefix(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _schema(rt: ResourceType) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(json.dumps(rt.schema))
    props = schema.setdefault("properties", {})
    props.setdefault(
        "apiVersion",
        {
            "type": "string",
            "description": "APIVersion defines the "
            "versioned schema of this representation of an object.",
        },
    )
    props.setdefault(
        "kind",
        {
            "type": "string",
            "description": "Kind is a string value "
            "representing the REST resource this object represents.",
        },
    )
    props["metadata"] = {"type": "object", "description": "Standard object's metadata."}
    schema["x-kubernetes-group-version-kind"] = [
        {"group": rt.group, "version": rt.version, "kind": rt.kind}
    ]
    return schema


def group_version_doc(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = [rt for rt in registry.all() if rt.group == group and rt.version == version]
    if not types:
        return None
    schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for rt in types:
        if rt.schema is not None:
            schemas[_schema_name(rt)] = _schema(rt)
        scope = "/namespaces/{namespace}" if rt.namespaced else ""
        paths[f"/{_prefix(group, version)}{scope}/{rt.plural}/{{name}}"] = {
            "patch": {
                "x-kubernetes-group-version-kind": {
                    "group": rt.group,
                    "version": rt.version,
                    "kind": rt.kind,
                },
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                    {"name": "force", "in": "query", "schema": {"type": "boolean"}},
                ],
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def index(registry: Registry) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for group, version in sorted({(rt.group, rt.version) for rt in registry.all()}):
        doc = group_version_doc(registry, group, version)
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]
        key = _prefix(group, version)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest.upper()}"}
    return {"paths": paths}
