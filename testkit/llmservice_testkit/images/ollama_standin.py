#!/usr/bin/env python3
"""``ollama`` in the test kit's Ollama stand-in image: the server and the client commands.

No Ollama binary can be had on the test machines, so the real node's pods run this in the
sidecar container instead of ``ollama/ollama`` (users keep the official image: this is
the tests' substitute only). It answers Ollama's HTTP API with a real model, SmolLM2-135M
through llama.cpp (the backend's ``llama_adapter``), and takes the command line and the
environment the Deployment builder gives the sidecar:

- ``ollama serve`` (the image's entrypoint is ``ollama``; the builder sets ``args: [serve]``)
  listens on ``OLLAMA_HOST`` (``host:port``, ``:port``, ``host``, with or without
  ``http://``; 127.0.0.1:11434 when unset, as Ollama reads it);
- ``ollama list`` (the sidecar's startup, readiness and liveness probes) asks the server at
  ``OLLAMA_HOST`` and exits 0 when it answers, 1 when it does not; ``ps``, ``pull`` and
  ``rm`` ask it too;
- ``OLLAMA_MODELS`` keeps the names pulled, so a restarted sidecar still has them, as
  Ollama keeps its models on that volume; an empty volume means no model until the
  backend pulls one, so the backend's pull really runs;
- ``OLLAMA_CONTEXT_LENGTH`` sets the context size (2048 when unset).

What differs from Ollama, on purpose: a pull downloads nothing and succeeds for any name
(every name is served by SmolLM2), unless ``OLLAMA_STANDIN_MODELS`` lists the names a pull
may fetch (comma-separated), so a test can make a pull fail the way Ollama's does for a
name the registry lacks. One generation runs at a time whatever ``OLLAMA_NUM_PARALLEL``
says, and a model once used stays loaded (``OLLAMA_KEEP_ALIVE`` is not honoured).
``OLLAMA_STANDIN_THREADS`` sets llama.cpp's threads (2).

The client commands import only the standard library: a probe costs a Python start-up, not
an import of llama.cpp.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PORT = 11434
#: How long a client command waits for the server: under the probes' 5 s timeout.
CLIENT_TIMEOUT = 4.0
#: The file in ``OLLAMA_MODELS`` that lists the names pulled.
SHELF_FILE = "ollama-standin-models.json"

log = logging.getLogger("ollama-standin")


@dataclass(frozen=True)
class Address:
    """Where the server listens (``bind``) and where clients reach it (``url``)."""

    scheme: str
    host: str
    port: int

    @property
    def bind(self) -> str:
        return self.host or "0.0.0.0"

    @property
    def url(self) -> str:
        # An unspecified address to listen on means this machine to a client.
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{self.port}"


def parse_host(value: str | None) -> Address:
    """``OLLAMA_HOST`` as Ollama reads it: scheme, host and port each optional.

    Without a scheme the port defaults to 11434; ``http://host`` means port 80 and
    ``https://host`` 443, as for any URL. An empty host (``:11434``) listens everywhere.
    """
    text = (value or "").strip().strip("\"'")
    scheme, sep, rest = text.partition("://")
    default_port = DEFAULT_PORT
    if not sep:
        scheme, rest = "http", text
    elif scheme == "http":
        default_port = 80
    elif scheme == "https":
        default_port = 443
    hostport = rest.split("/", 1)[0]
    if not hostport:
        return Address(scheme, "127.0.0.1", default_port)
    if hostport.startswith("["):  # [v6] or [v6]:port
        host, _, tail = hostport[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else ""
    elif hostport.count(":") == 1:
        host, _, port = hostport.partition(":")
    else:  # a name, an IPv4 address, or a bare IPv6 address
        host, port = hostport, ""
    if not port:
        return Address(scheme, host, default_port)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"OLLAMA_HOST={value!r}: {port!r} is not a port")
    return Address(scheme, host, int(port))


def normalize(name: str) -> str:
    """Ollama's model references: ``name`` means ``name:latest``."""
    name = name.strip()
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


class PulledModels:
    """The names pulled so far, kept in a file on the models volume when it is writable.

    Implements the adapter's ``ModelShelf``: ``pullable`` (normalized names) limits what a
    pull may fetch; None lets any name be pulled.
    """

    def __init__(self, folder: Path | None, pullable: frozenset[str] | None = None) -> None:
        self.path = folder / SHELF_FILE if folder is not None else None
        self.pullable = pullable
        self._names: list[str] = self._load()

    def _load(self) -> list[str]:
        if self.path is None or not self.path.is_file():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s: %s", self.path, exc)
            return []
        return [normalize(n) for n in data if isinstance(n, str)] if isinstance(data, list) else []

    def _save(self) -> None:
        if self.path is None:
            return
        partial = self.path.with_suffix(".partial")
        try:
            partial.write_text(json.dumps(self._names), encoding="utf-8")
            partial.replace(self.path)
        except OSError as exc:  # a read-only or missing volume: keep the names in memory
            log.warning("cannot keep the pulled models in %s: %s", self.path, exc)

    def names(self) -> list[str]:
        return list(self._names)

    def can_pull(self, name: str) -> bool:
        return self.pullable is None or name in self.pullable

    def add(self, name: str) -> None:
        if name not in self._names:
            self._names.append(name)
            self._save()

    def remove(self, name: str) -> bool:
        if name not in self._names:
            return False
        self._names.remove(name)
        self._save()
        return True


def pullable_from(value: str | None) -> frozenset[str] | None:
    """``OLLAMA_STANDIN_MODELS``: unset, empty or ``*`` lets any name be pulled."""
    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    if not names or "*" in names:
        return None
    return frozenset(normalize(n) for n in names)


# ---- the server ------------------------------------------------------------------------


def _stop_now(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def serve(environ: dict[str, str]) -> int:
    """Load SmolLM2 and answer Ollama's API on ``OLLAMA_HOST`` until SIGTERM or SIGINT."""
    # As a container's PID 1 the process ignores every signal it has no handler for: a
    # SIGTERM during the imports and the model load (seconds) would be lost, and a pod
    # deleted while it starts would wait out its whole grace period (seen: 120 s).
    # uvicorn installs its own handlers once it serves.
    signal.signal(signal.SIGTERM, _stop_now)
    signal.signal(signal.SIGINT, _stop_now)
    import uvicorn
    from llmservice_backend.testing.llama_adapter import (
        DEFAULT_MODEL_NAME,
        OLLAMA_VERSION,
        LlamaAdapter,
        ModelNotInstalledError,
    )

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    address = parse_host(environ.get("OLLAMA_HOST"))
    models = environ.get("OLLAMA_MODELS")
    shelf = PulledModels(
        Path(models) if models else None, pullable_from(environ.get("OLLAMA_STANDIN_MODELS"))
    )
    try:
        adapter = LlamaAdapter(
            DEFAULT_MODEL_NAME,
            n_ctx=int(environ.get("OLLAMA_CONTEXT_LENGTH") or 2048),
            n_threads=int(environ.get("OLLAMA_STANDIN_THREADS") or 2),
            shelf=shelf,
        )
    except ModelNotInstalledError as exc:
        print(f"Error: cannot start: {exc}", file=sys.stderr)
        return 1
    log.info(
        "Listening on %s:%d (stand-in for Ollama %s; SmolLM2 loaded in %.1f s; models %s)",
        address.bind,
        address.port,
        OLLAMA_VERSION,
        adapter.load_seconds,
        shelf.names() or "none yet",
    )
    try:
        # No access log: the probes would fill it every few seconds.
        uvicorn.run(
            adapter.app,
            host=address.bind,
            port=address.port,
            log_level="info",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    finally:
        adapter.close()
    return 0


# ---- the client commands ---------------------------------------------------------------


class ClientError(Exception):
    """The server did not answer, or answered with an error: the command exits 1."""


@contextlib.contextmanager
def _request(
    address: Address, method: str, path: str, body: dict[str, Any] | None = None
) -> Iterator[Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        address.url + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"} if data is not None else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=CLIENT_TIMEOUT) as response:
            yield response
    except urllib.error.HTTPError as exc:
        raise ClientError(_error_text(exc.read()) or f"HTTP {exc.code}") from exc
    except (OSError, ValueError) as exc:
        raise ClientError(
            f"could not connect to ollama server at {address.url} ({exc}); is it running?"
        ) from exc


def _error_text(raw: bytes) -> str:
    try:
        error = json.loads(raw).get("error")
    except (ValueError, AttributeError):
        return raw.decode(errors="replace").strip()
    return str(error) if error else ""


def _get(address: Address, path: str) -> dict[str, Any]:
    with _request(address, "GET", path) as response:
        payload: dict[str, Any] = json.loads(response.read())
    return payload


def _size(num: int) -> str:
    value = float(num)
    for unit in ("B", "KB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "    ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def list_models(address: Address) -> int:
    models = _get(address, "/api/tags").get("models") or []
    rows = [["NAME", "ID", "SIZE", "MODIFIED"]]
    rows += [
        [m["name"], str(m.get("digest", ""))[:12], _size(int(m.get("size", 0))), m["modified_at"]]
        for m in models
    ]
    print(_table(rows))
    return 0


def list_running(address: Address) -> int:
    models = _get(address, "/api/ps").get("models") or []
    rows = [["NAME", "ID", "SIZE", "PROCESSOR", "UNTIL"]]
    for m in models:
        size = _size(int(m.get("size", 0)))
        rows.append([m["name"], str(m.get("digest", ""))[:12], size, "100% CPU", "Forever"])
    print(_table(rows))
    return 0


def pull(address: Address, name: str) -> int:
    with _request(address, "POST", "/api/pull", {"model": name, "stream": True}) as response:
        for line in response:
            if not line.strip():
                continue
            event = json.loads(line)
            if "error" in event:
                raise ClientError(str(event["error"]))
            print(event.get("status", ""))
    return 0


def remove(address: Address, name: str) -> int:
    with _request(address, "DELETE", "/api/delete", {"model": name}):
        pass
    print(f"deleted '{name}'")
    return 0


def version(address: Address) -> int:
    try:
        served = _get(address, "/api/version").get("version")
    except ClientError:
        print("Warning: could not connect to a running Ollama instance")
        print("Warning: client version is the test kit's stand-in")
        return 0
    print(f"ollama version is {served} (the test kit's stand-in)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ollama", description="The test kit's stand-in for Ollama (SmolLM2 on llama.cpp)."
    )
    parser.add_argument("-v", "--version", action="store_true", help="show the server's version")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="start the server on OLLAMA_HOST")
    sub.add_parser("list", aliases=["ls"], help="list the models pulled")
    sub.add_parser("ps", help="list the models loaded")
    pull_parser = sub.add_parser("pull", help="pull a model (any name: SmolLM2 serves it)")
    pull_parser.add_argument("model")
    rm_parser = sub.add_parser("rm", help="remove a model")
    rm_parser.add_argument("model")
    return parser


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = dict(os.environ if environ is None else environ)
    try:
        address = parse_host(env.get("OLLAMA_HOST"))
        if args.version:
            return version(address)
        if args.command == "serve":
            return serve(env)
        if args.command in ("list", "ls"):
            return list_models(address)
        if args.command == "ps":
            return list_running(address)
        if args.command == "pull":
            return pull(address, args.model)
        if args.command == "rm":
            return remove(address, args.model)
    except (ClientError, ValueError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    build_parser().print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
