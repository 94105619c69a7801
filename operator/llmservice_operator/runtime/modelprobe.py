"""Asking starting pods how far their model got: ``GET http://POD_IP:PORT/readyz``.

The backend answers ``/readyz`` without a key (the kubelet's readiness probe calls it too)
with its phase and the download's progress. Only pods that run but are not ready are
asked, at most once per ``interval`` per LLMService, each with a short timeout; a pod that
does not answer (a NetworkPolicy, a backend still starting) is reported Unknown and
nothing else changes. No pod needs an API permission for this.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from llmservice_operator.core import modelprogress
from llmservice_operator.runtime.cache import Key, Obj

ASK_TIMEOUT = 2.0


class ModelProbe:
    def __init__(self, interval: float, timeout: float = ASK_TIMEOUT) -> None:
        self.interval = interval  # 0: never ask
        self.timeout = timeout
        self._answers: dict[Key, dict[str, Obj]] = {}
        self._asked: dict[Key, float] = {}
        self._client: httpx.AsyncClient | None = None

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    def answers(self, key: Key) -> Mapping[str, Obj]:
        return self._answers.get(key, {})

    def seconds_to_next(self, key: Key) -> float:
        return max(0.0, self._asked.get(key, -1e9) + self.interval - time.monotonic())

    async def refresh(self, key: Key, pods: Sequence[Obj], port: int) -> None:
        """Ask the starting pods of one LLMService, unless asked less than ``interval`` ago."""
        starting = [p for p in pods if modelprogress.starting(p)]
        if not self.enabled or not starting:
            self._answers.pop(key, None)
            return
        if self.seconds_to_next(key) > 0:
            return
        self._asked[key] = time.monotonic()
        names = [str(p["metadata"]["name"]) for p in starting]
        found = await asyncio.gather(*(self._ask(p["status"]["podIP"], port) for p in starting))
        self._answers[key] = dict(zip(names, found, strict=True))

    async def _ask(self, ip: str, port: int) -> dict[str, Any]:
        host = f"[{ip}]" if ":" in ip else ip
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        try:
            response = await self._client.get(f"http://{host}:{port}/readyz")
            return modelprogress.from_readyz(response.json())
        except (httpx.HTTPError, ValueError):
            return {"state": "Unknown"}

    def forget(self, key: Key) -> None:
        self._answers.pop(key, None)
        self._asked.pop(key, None)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
