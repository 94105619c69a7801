"""Types shared by the backend tests and their fixtures.

Test modules import these from here, not from conftest: two conftest modules (this folder's
and tests/integration's) would otherwise fight over the module name ``conftest``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
