"""The rendered children checked against Kubernetes' own OpenAPI schemas, per version.

``render`` promises children the API server takes. The LLMService's own checks (the models,
the CRD's CEL rules, ``api.childchecks``) are meant to make that so; this is the check that
they did, against the upstream schemas of every Kubernetes minor version we support (from
:data:`OLDEST` to the newest the pinned ``kubernetes-validate`` ships), in strict mode
(unknown fields are errors, as ``kubectl apply --validate=strict`` makes them). An error
here names the child's field and the versions whose schema refused it.

``kubernetes-validate`` is part of the ``render`` extra (importing this module without it
raises ``ModuleNotFoundError``, which the command turns into how to install it); its schema
files are read through its ``utils`` module, as it has no public call that lists every
error at once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import jsonschema  # type: ignore[import-untyped]
from kubernetes_validate import utils
from referencing import Registry, Resource

# The oldest Kubernetes the operator supports: native sidecars are on by default from 1.29.
OLDEST: Final = (1, 29)
# Children of kinds Kubernetes itself does not define (their CRDs come with the Gateway API
# and the Prometheus Operator): no upstream schema to check them against here; the tests
# install the Gateway API's own CRDs into a real API server instead.
NOT_KUBERNETES: Final = frozenset({"gateway.networking.k8s.io", "monitoring.coreos.com"})


@dataclass(frozen=True)
class SchemaError:
    """One child's field refused by the upstream schema of some versions."""

    child: str  # Kind/name
    path: str
    message: str
    versions: tuple[str, ...]

    def __str__(self) -> str:
        where = self.path or "(object)"
        return f"{self.child}: {where}: {self.message} ({describe(self.versions)})"


def describe(versions: tuple[str, ...]) -> str:
    """``Kubernetes 1.29 schema`` or ``Kubernetes 1.29 to 1.37 schemas``."""
    if not versions:
        return "Kubernetes schemas"
    if len(versions) == 1:
        return f"Kubernetes {versions[0]} schema"
    return f"Kubernetes {versions[0]} to {versions[-1]} schemas"


def versions() -> tuple[str, ...]:
    """Every supported minor version the installed schemas cover, oldest first (``1.29``)."""
    found = {utils.major_minor(v) for v in utils.all_versions()}
    minors = sorted({tuple(int(p) for p in v.split(".")) for v in found})
    return tuple(f"{major}.{minor}" for major, minor in minors if (major, minor) >= OLDEST)


@functools.cache
def _validator(version: str, kind: str, api_version: str) -> Any | None:
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"kubernetes-json-schema/v{version}.0-local-strict"
    try:
        schema = utils.schema_contents(f"{folder}/{kind.lower()}-{group_version}.json", version)
    except FileNotFoundError:
        return None
    definitions = utils.schema_contents(f"{folder}/_definitions.json", version)
    registry: Any = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _message(error: Any) -> str:
    """jsonschema's message without the whole offending value, which can be long."""
    message = str(error.message)
    return message if len(message) <= 200 else message[:197] + "..."


def check(children: Iterable[Mapping[str, Any]], only: str | None = None) -> list[SchemaError]:
    """Every field of every child that some supported version's schema refuses, the same
    error of several versions reported once. ``only`` checks a single version (``1.33``)."""
    wanted = (only,) if only else versions()
    found: dict[tuple[str, str, str], list[str]] = {}
    for child in children:
        kind, api_version = str(child.get("kind", "")), str(child.get("apiVersion", ""))
        name = str((child.get("metadata") or {}).get("name", ""))
        if api_version.split("/")[0] in NOT_KUBERNETES:
            continue
        for version in wanted:
            validator = _validator(version, kind, api_version)
            if validator is None:
                key = (f"{kind}/{name}", "", f"no schema for {kind} {api_version}")
                found.setdefault(key, []).append(version)
                continue
            for error in validator.iter_errors(child):
                key = (f"{kind}/{name}", _path(error.absolute_path), _message(error))
                found.setdefault(key, []).append(version)
    return [
        SchemaError(child, path, message, tuple(vs)) for (child, path, message), vs in found.items()
    ]
