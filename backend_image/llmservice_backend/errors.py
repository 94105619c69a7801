"""One error type for everything a request can fail on, rendered in each API's own dialect.

Ollama clients expect `{"error": "..."}`; OpenAI clients expect
`{"error": {"message", "type", "param", "code"}}`. Handlers raise ApiError and the route's
dialect decides the body, so the status and wording stay the same across both APIs.
"""

from __future__ import annotations

import json
from typing import Any, Literal

Dialect = Literal["ollama", "openai"]

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """A request failed; status, message and the field at fault when there is one."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def openai_type(self) -> str:
        return _OPENAI_TYPES.get(self.status, "server_error")

    def body(self, dialect: Dialect) -> dict[str, Any]:
        if dialect == "ollama":
            return {"error": self.message}
        return {
            "error": {
                "message": self.message,
                "type": self.openai_type(),
                "param": self.param,
                "code": self.code,
            }
        }

    def body_bytes(self, dialect: Dialect) -> bytes:
        return json.dumps(self.body(dialect), ensure_ascii=False).encode()


def upstream_error(status: int, body: bytes) -> ApiError:
    """Map an error answer from Ollama to the status this backend gives its own client.

    Client mistakes (4xx) keep their status; Ollama's own failures become 502, except a busy
    Ollama (503), which stays 503 so clients retry.
    """
    message = _error_text(body) or f"Ollama answered HTTP {status}"
    if status == 404:
        return ApiError(404, message, param="model", code="model_not_found")
    if status == 503:
        return ApiError(503, message, code="upstream_busy", headers={"Retry-After": "1"})
    if 400 <= status < 500:
        return ApiError(status, message, code="upstream_rejected")
    return ApiError(502, f"Ollama failed: {message}", code="upstream_error")


def _error_text(body: bytes) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.decode(errors="replace").strip()[:500]
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return str(parsed["error"])
    return ""


def unreachable(url: str, exc: BaseException) -> ApiError:
    return ApiError(
        502,
        f"Ollama is unreachable at {url}: {type(exc).__name__}: {exc}".rstrip(": "),
        code="upstream_unavailable",
    )


def timed_out(what: str, seconds: float) -> ApiError:
    return ApiError(504, f"{what} after {seconds:g} s", code="upstream_timeout")
