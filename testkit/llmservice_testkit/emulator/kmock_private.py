"""The private parts of kmock the local API server relies on, gathered here.

kmock's public API makes a mock; a server faithful enough for kopf, the official client
and kubectl needs a few of its inner parts, for which kmock 0.8 has no public hook. Hence
kmock is pinned (testkit/pyproject.toml), and an upgrade starts by reading this module
against the new version:

- :func:`parse_path`, kmock's parser of Kubernetes URLs: :mod:`.server` asks it whether
  kmock can route a request before handing the request over;
- the request log (``_requests``, what ``server.requests`` shows) and the errors kept for
  ``async with server`` (``_errors``): :mod:`.server` takes requests for resource URLs in
  itself and records them there, as kmock's own entry point does;
- kmock's own dispatch and error rendering (``RawHandler._handle``, ``_render_error``), for
  what :mod:`.server` does not serve itself;
- overridden in :class:`~.server.ApiServer` (methods kmock calls on itself): ``_handle``
  and the discovery answers ``_serve_version``, ``_serve_api``, ``_serve_apis``,
  ``_serve_group``, ``_serve_server_version``.

Everything else comes from kmock's public names (``kmock.Server``, ``kmock.Request``,
``kmock.Payload``, ``kmock.resource``, ...).
"""

from __future__ import annotations

from typing import Any

import aiohttp.web
import kmock
from kmock._internal.parsing import parse_path

__all__ = [
    "dispatch",
    "log_request",
    "next_request_id",
    "parse_path",
    "record_error",
    "render_error",
    "trim_request_log",
]


def trim_request_log(emulator: kmock.KubernetesEmulator, limit: int) -> None:
    """kmock keeps every request for assertions; past ``limit`` the older half goes, so a
    long ``serve`` does not grow for ever."""
    log: list[kmock.Request] = emulator._requests
    if len(log) > limit:
        del log[: len(log) // 2]


def next_request_id(emulator: kmock.KubernetesEmulator) -> int:
    return len(emulator._requests)


def log_request(emulator: kmock.KubernetesEmulator, request: kmock.Request) -> None:
    emulator._requests.append(request)


def record_error(emulator: kmock.KubernetesEmulator, exc: Exception) -> bool:
    """Keep ``exc`` to be raised when ``async with server`` exits, as kmock's entry point
    does; False outside such a block (the caller lets aiohttp deal with it)."""
    errors: list[list[Exception]] = emulator._errors
    if not errors:
        return False
    errors[-1].append(exc)
    return True


async def render_error(
    emulator: kmock.KubernetesEmulator, exc: Exception
) -> aiohttp.web.StreamResponse:
    response: aiohttp.web.StreamResponse = await emulator._render_error(exc)
    return response


async def dispatch(emulator: Any, request: kmock.Request) -> aiohttp.web.StreamResponse:
    """kmock's own handling of ``request`` (its reactions and built-in answers)."""
    response: aiohttp.web.StreamResponse = await kmock.RawHandler._handle(emulator, request)
    return response
