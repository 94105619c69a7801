"""Kubernetes ``Status`` errors: the shape clients parse (kopf, kubernetes client, kubectl)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered as a ``kind: Status`` body with ``code`` as the HTTP status."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}
        self.headers = headers or {}
        self.metadata = metadata or {}  # the Status's ListMeta (a 410's fresh continue token)

    def status(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": dict(self.metadata),
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


def _named(resource: str, name: str, group: str) -> tuple[str, dict[str, Any]]:
    """How the API server names one object in a message (``kind.group "name"``), and the
    ``details`` it sends with errors about that object."""
    qualified = f"{resource}.{group}" if group else resource
    return f'{qualified} "{name}"', {"name": name, "group": group, "kind": resource}


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    ref, details = _named(resource, name, group)
    return ApiError(404, "NotFound", f"{ref} not found", details)


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    ref, details = _named(resource, name, group)
    return ApiError(409, "AlreadyExists", f"{ref} already exists", details)


def conflict(resource: str, name: str, group: str, why: str) -> ApiError:
    ref, details = _named(resource, name, group)
    return ApiError(409, "Conflict", f"Operation cannot be fulfilled on {ref}: {why}", details)


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 with one cause per field, worded like the API server's field errors."""
    qualified = f"{kind}.{group}" if group else kind
    text = "; ".join(f"{field}: {message}" if field else message for field, message in causes)
    if len(causes) > 1:
        text = f"[{text}]"
    return ApiError(
        422,
        "Invalid",
        f'{qualified} "{name}" is invalid: {text}',
        {
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [
                {"reason": "FieldValueInvalid", "message": message, "field": field}
                for field, message in causes
            ],
        },
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)
