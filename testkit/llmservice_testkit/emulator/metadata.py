"""Server-owned metadata: what a real API server sets on create and on every change."""

from __future__ import annotations

import datetime
import re
import secrets
import uuid
from typing import Any

from llmservice_testkit.emulator.clone import clone
from llmservice_testkit.emulator.errors import ApiError

# Fields a client cannot change after create; the server keeps its own values.
_IMMUTABLE = ("uid", "creationTimestamp", "name", "namespace", "generateName")
# Fields only the server writes; a client's value is ignored.
_SERVER_OWNED = ("deletionTimestamp", "deletionGracePeriodSeconds", "generation")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    """What counts for ``metadata.generation``: everything except metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def on_create(obj: dict[str, Any], namespace: str | None) -> dict[str, Any]:
    obj = clone(obj)
    meta = obj.setdefault("metadata", {})
    if not meta.get("name"):
        prefix = meta.get("generateName")
        if not prefix:
            raise ApiError(
                422, "Invalid", "metadata.name: Required value: name or generateName is required"
            )
        meta["name"] = prefix + secrets.token_hex(3)[:5]
    if namespace is not None:
        if meta.get("namespace") not in (None, "", namespace):
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the"
                " request",
            )
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now()
    meta["generation"] = 1
    for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
        meta.pop(key, None)
    return obj


def on_update(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Keep immutable and server-owned fields; bump generation when the spec changed."""
    new = clone(new)
    meta = new.setdefault("metadata", {})
    old_meta = old["metadata"]
    for key in (*_IMMUTABLE, *_SERVER_OWNED):
        if key in old_meta:
            value = old_meta[key]
            meta[key] = value if isinstance(value, (str, int, float)) else clone(value)
        else:
            meta.pop(key, None)
    if old_meta.get("deletionTimestamp"):
        # A terminating object may lose finalizers but gain none.
        added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
        if added:
            raise ApiError(
                422,
                "Invalid",
                f"metadata.finalizers: Forbidden: no new finalizers can be added if the object is"
                f" being deleted, found new finalizers {sorted(added)}",
            )
    if spec_part(old) != spec_part(new):
        meta["generation"] = int(old_meta.get("generation", 1)) + 1
    return new


_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# Kinds whose names must be DNS labels (they become DNS names or label values).
_DNS_1035_KINDS = frozenset({"Service"})
_DNS_1123_LABEL_KINDS = frozenset({"Namespace"})


def _name_errors(kind: str, name: str) -> list[tuple[str, str]]:
    if kind in _DNS_1035_KINDS:
        longest, pattern, rule = (
            63,
            _LABEL_1035,
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
            "start with an alphabetic character, and end with an alphanumeric character",
        )
    elif kind in _DNS_1123_LABEL_KINDS:
        longest, pattern, rule = (
            63,
            _LABEL_1123,
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
            "or '-', and must start and end with an alphanumeric character",
        )
    else:
        longest, pattern, rule = (
            253,
            _SUBDOMAIN,
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
            "characters, '-' or '.', and must start and end with an alphanumeric character",
        )
    if len(name) > longest or not pattern.match(name):
        return [("metadata.name", f'Invalid value: "{name}": {rule}')]
    return []


def _key_errors(field: str, key: str) -> list[tuple[str, str]]:
    prefix, _, name = key.rpartition("/")
    if (prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix))) or (
        len(name) > 63 or not _QUALIFIED.match(name)
    ):
        return [
            (
                field,
                f'Invalid value: "{key}": name part must consist of alphanumeric '
                "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                "character (at most 63 characters, with an optional DNS subdomain prefix)",
            )
        ]
    return []


def validate(kind: str, meta: dict[str, Any]) -> list[tuple[str, str]]:
    """Names, label keys and values, annotation keys: what ObjectMeta validation checks."""
    errors = _name_errors(kind, str(meta.get("name", "")))
    for key, value in (meta.get("labels") or {}).items():
        field = f"metadata.labels.{key}"
        errors += _key_errors("metadata.labels", key)
        if not isinstance(value, str):
            errors.append((field, "Invalid value: label values must be strings"))
        elif value and (len(value) > 63 or not _QUALIFIED.match(value)):
            errors.append(
                (
                    field,
                    f'Invalid value: "{value}": a valid label must be an empty '
                    "string or consist of alphanumeric characters, '-', '_' or '.', and "
                    "must start and end with an alphanumeric character (at most 63)",
                )
            )
    for key, value in (meta.get("annotations") or {}).items():
        errors += _key_errors("metadata.annotations", key)
        if not isinstance(value, str):
            errors.append((f"metadata.annotations.{key}", "Invalid value: must be a string"))
    return errors
