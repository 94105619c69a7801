"""Types shared by the backend tests and their fixtures.

Test modules import these from here, not from conftest: two conftest modules (this folder's
and tests/integration's) would otherwise fight over the module name ``conftest``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

import httpx
from llmservice_backend.app import Backend
from llmservice_backend.testing.servers import ThreadedServer


@dataclass
class RunningBackend:
    url: str
    backend: Backend
    server: ThreadedServer

    def metric(self, text: str) -> float:
        """The value of one sample line of /metrics, by its exact name and labels."""
        for line in httpx.get(self.url + "/metrics").text.splitlines():
            if line.startswith(text + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


StartBackend = Callable[..., RunningBackend]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class BackendProcess:
    proc: subprocess.Popen[bytes]
    url: str
    port: int
    metrics_port: int
    log_file: IO[bytes]

    def metric(self, text: str) -> float:
        """One sample of /metrics on METRICS_PORT, by its exact name and labels."""
        body = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics").text
        for line in body.splitlines():
            if line.startswith(text + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def log(self) -> str:
        """What the process has written to stderr so far (its log)."""
        self.log_file.seek(0)
        return self.log_file.read().decode(errors="replace")


@contextmanager
def backend_process(ollama_url: str, **env: str) -> Iterator[BackendProcess]:
    """`python -m llmservice_backend` on free ports, as in the pod; killed on the way out.

    Its stderr (the log) is kept in a temporary file: BackendProcess.log().
    """
    port, metrics_port = free_port(), free_port()
    full = {
        **os.environ,
        "OLLAMA_URL": ollama_url,
        "BACKEND_HOST": "127.0.0.1",
        "BACKEND_PORT": str(port),
        "METRICS_PORT": str(metrics_port),
        **env,
    }
    log_file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen([sys.executable, "-m", "llmservice_backend"], env=full, stderr=log_file)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "the backend exited while starting"
            assert time.monotonic() < end, "the backend did not start"
            time.sleep(0.05)
        yield BackendProcess(proc, url, port, metrics_port, log_file)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        log_file.close()
