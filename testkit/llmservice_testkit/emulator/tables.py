"""``Table`` responses (``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``) for kubectl get.

CRDs get their additionalPrinterColumns (Name first); built-ins get Name and Age plus a few
columns for the kinds this project creates. JSONPaths are the simple dotted/indexed subset
that printer columns use (``.status.ready``, ``.status.conditions[?(@.type=="Ready")].status``).
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from llmservice_testkit.emulator.registry import ResourceType

_NAME = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "priority": 0,
    "description": "Name must be unique within a namespace.",
}
_AGE = {
    "name": "Age",
    "type": "date",
    "format": "",
    "priority": 0,
    "description": "CreationTimestamp is a timestamp representing the server time when this"
    " object was created.",
}

_BUILTIN_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "Deployment": [
        ("Ready", "{.status.readyReplicas}/{.spec.replicas}"),
        ("Up-to-date", ".status.updatedReplicas"),
        ("Available", ".status.availableReplicas"),
    ],
    "Pod": [("Ready", "pod:ready"), ("Status", "pod:status"), ("Restarts", "pod:restarts")],
    "Service": [
        ("Type", ".spec.type"),
        ("Cluster-IP", ".spec.clusterIP"),
        ("Port(s)", "svc:ports"),
    ],
    "HorizontalPodAutoscaler": [
        ("Reference", "hpa:reference"),
        ("Targets", "hpa:targets"),
        ("MinPods", ".spec.minReplicas"),
        ("MaxPods", ".spec.maxReplicas"),
        ("Replicas", ".status.currentReplicas"),
    ],
}

_FILTER = re.compile(r"^\[\?\(@\.([A-Za-z0-9_]+)\s*==\s*['\"]([^'\"]*)['\"]\)\]")
_INDEX = re.compile(r"^\[(\d+)\]")
_FIELD = re.compile(r"^\.?([A-Za-z0-9_-]+)")


def json_path(obj: Any, path: str) -> Any:
    """Evaluate the subset of JSONPath used in printer columns; ``None`` when absent."""
    rest = path.strip()
    if rest.startswith("{") and rest.endswith("}"):
        rest = rest[1:-1]
    node: Any = obj
    while rest:
        if m := _FILTER.match(rest):
            key, value = m.groups()
            items = [i for i in node or [] if isinstance(i, dict) and str(i.get(key)) == value]
            node = items[0] if items else None
        elif m := _INDEX.match(rest):
            index = int(m.group(1))
            node = node[index] if isinstance(node, list) and len(node) > index else None
        elif m := _FIELD.match(rest):
            node = node.get(m.group(1)) if isinstance(node, dict) else None
        else:
            return None
        rest = rest[m.end() :]
        if node is None:
            return None
    return node


def human_age(timestamp: Any) -> Any:
    """A date cell as the API server sends it: an age like kubectl prints (``5s``, ``3m2s``)."""
    if not isinstance(timestamp, str):
        return timestamp
    try:
        then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.UTC
        )
    except ValueError:
        return timestamp
    seconds = int((datetime.datetime.now(datetime.UTC) - then).total_seconds())
    if seconds < 0:
        return "<invalid>"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def _template(obj: Any, text: str) -> str:
    parts = re.findall(r"\{([^}]*)\}", text)
    result = text
    for part in parts:
        value = json_path(obj, part)
        result = result.replace("{" + part + "}", "0" if value is None else str(value), 1)
    return result


def _pod_cell(pod: dict[str, Any], which: str) -> Any:
    """Pod columns as kubectl shows them: READY n/m, STATUS with the waiting reason, RESTARTS."""
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    if which == "ready":
        total = len((pod.get("spec") or {}).get("containers") or [])
        return f"{sum(1 for c in statuses if c.get('ready'))}/{total}"
    if which == "restarts":
        return sum(int(c.get("restartCount", 0)) for c in statuses)
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    for c in statuses:
        state = c.get("state") or {}
        reason = (state.get("waiting") or {}).get("reason") or (state.get("terminated") or {}).get(
            "reason"
        )
        if reason:
            return reason
    return status.get("phase", "Pending")


def _special_cell(obj: dict[str, Any], path: str) -> Any:
    kind, which = path.split(":")
    spec = obj.get("spec") or {}
    if kind == "pod":
        return _pod_cell(obj, which)
    if kind == "svc":
        ports = [
            f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}"
            f"/{p.get('protocol', 'TCP')}"
            for p in spec.get("ports") or []
        ]
        return ",".join(ports) or "<none>"
    if which == "reference":
        ref = spec.get("scaleTargetRef") or {}
        return f"{ref.get('kind')}/{ref.get('name')}"
    current = {
        m["resource"]["name"]: m["resource"].get("current", {}).get("averageUtilization")
        for m in (obj.get("status") or {}).get("currentMetrics") or []
        if m.get("type") == "Resource"
    }
    targets = []
    for metric in spec.get("metrics") or []:
        if metric.get("type") != "Resource":
            continue
        name = metric["resource"]["name"]
        goal = metric["resource"].get("target", {}).get("averageUtilization")
        now = current.get(name)
        targets.append(f"{name}: {'<unknown>' if now is None else f'{now}%'}/{goal}%")
    return ", ".join(targets) or "<none>"


def columns(rt: ResourceType) -> list[dict[str, Any]]:
    if rt.printer_columns:
        defined = [
            {
                "name": c["name"],
                "type": c.get("type", "string"),
                "format": c.get("format", ""),
                "description": c.get("description", ""),
                "priority": c.get("priority", 0),
            }
            for c in rt.printer_columns
        ]
        return [_NAME, *defined]
    extra = [
        {"name": name, "type": "string", "format": "", "description": "", "priority": 0}
        for name, _ in _BUILTIN_COLUMNS.get(rt.kind, [])
    ]
    return [_NAME, *extra, _AGE]


def cells(rt: ResourceType, obj: dict[str, Any]) -> list[Any]:
    meta = obj.get("metadata", {})
    if rt.printer_columns:
        return [
            meta.get("name"),
            *(
                human_age(json_path(obj, c["jsonPath"]))
                if c.get("type") == "date"
                else json_path(obj, c["jsonPath"])
                for c in rt.printer_columns
            ),
        ]
    extra: list[Any] = []
    for _, path in _BUILTIN_COLUMNS.get(rt.kind, []):
        if path.startswith(("pod:", "svc:", "hpa:")):
            extra.append(_special_cell(obj, path))
            continue
        value = _template(obj, path) if "{" in path else json_path(obj, path)
        if value is None and path.startswith(".status.") and path.endswith("Replicas"):
            value = 0  # kubectl shows counts the controller has not written yet as 0
        extra.append(value)
    return [meta.get("name"), *extra, human_age(meta.get("creationTimestamp"))]


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def row(rt: ResourceType, obj: dict[str, Any], include: str) -> dict[str, Any]:
    if include == "None":
        embedded: Any = None
    elif include == "Object":
        embedded = obj
    else:
        embedded = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {k: v for k, v in obj.get("metadata", {}).items() if k != "managedFields"},
        }
    return {"cells": cells(rt, obj), "object": embedded}


def table(
    rt: ResourceType, objs: list[dict[str, Any]], resource_version: str, include: str
) -> dict[str, Any]:
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns(rt),
        "rows": [row(rt, obj, include) for obj in objs],
    }
