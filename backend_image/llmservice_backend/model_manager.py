"""Getting the model into Ollama and keeping an eye on it: pull, warm, readiness.

A pod is Ready only when its own Ollama has the model present and loaded, so the first chat
does not pay for a multi-gigabyte download or a cold load. The work runs in the background so
that /healthz answers at once while /readyz explains what is going on (pull progress, or why
the pull failed, in Ollama's own words).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from .errors import ApiError
from .metrics import Metrics
from .settings import PullPolicy, Settings
from .upstream import Upstream

log = logging.getLogger("llmservice_backend.model")

_PROBE_TIMEOUT = 5.0
_LOG_EVERY_SECONDS = 5.0


def normalize(name: str) -> str:
    """Ollama's canonical short name: the tag defaults to 'latest'."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def model_in(listing: Any, name: str) -> bool:
    wanted = normalize(name)
    for entry in (listing or {}).get("models") or []:
        for key in ("name", "model"):
            value = entry.get(key)
            if isinstance(value, str) and normalize(value) == wanted:
                return True
    return False


class PullFailed(Exception):
    pass


class ModelMissing(Exception):
    pass


@dataclass
class Progress:
    status: str = ""
    digest: str | None = None
    completed: int | None = None
    total: int | None = None

    @property
    def ratio(self) -> float | None:
        if self.total and self.completed is not None:
            return min(1.0, self.completed / self.total)
        return None


@dataclass
class ModelState:
    phase: str = (
        "starting"  # starting, waiting_for_ollama, checking, pulling, warming, ready, failed
    )
    detail: str = "the backend is starting"
    error: str | None = None
    progress: Progress | None = None
    next_retry_at: float | None = None
    since: float = field(default_factory=time.time)


@dataclass
class Readiness:
    ready: bool
    body: dict[str, Any]


class ModelManager:
    def __init__(self, settings: Settings, upstream: Upstream, metrics: Metrics) -> None:
        self.settings = settings
        self.upstream = upstream
        self.metrics = metrics
        self.model = settings.model_name
        self.state = ModelState()
        self._pulled_once = False
        self._ensure_task: asyncio.Task[None] | None = None
        self._cache: tuple[float, Readiness] | None = None
        self._check: asyncio.Future[Readiness] | None = None

    # --- the background work ------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Run ensure() in the background (once at a time)."""
        if self._ensure_task is None or self._ensure_task.done():
            self._ensure_task = asyncio.create_task(self.ensure(), name="model-ensure")
        return self._ensure_task

    async def stop(self) -> None:
        if self._ensure_task is not None:
            self._ensure_task.cancel()
            await asyncio.gather(self._ensure_task, return_exceptions=True)

    async def ensure(self) -> None:
        """Until the model is present and loaded: wait for Ollama, pull if allowed, warm."""
        delay = self.settings.pull_retry_seconds
        while True:
            try:
                await self._wait_for_ollama()
                self._set("checking", f"looking for {self.model} in Ollama")
                present = model_in(
                    await self.upstream.get_json("/api/tags", _PROBE_TIMEOUT), self.model
                )
                policy = self.settings.model_pull_policy
                if policy is PullPolicy.ALWAYS and not self._pulled_once:
                    await self._pull()
                elif not present:
                    if policy is PullPolicy.NEVER:
                        raise ModelMissing(
                            f"model {self.model} is not in Ollama and MODEL_PULL_POLICY is Never"
                        )
                    await self._pull()
                await self._warm()
                self._set("ready", f"{self.model} is present and loaded")
                self._cache = None
                self.metrics.model_ready.set(1)
                log.info("model %s is ready", self.model)
                return
            except (PullFailed, ModelMissing, ApiError) as exc:
                message = exc.message if isinstance(exc, ApiError) else str(exc)
                self.metrics.model_ready.set(0)
                self.state = ModelState(
                    phase="failed",
                    detail=f"retrying in {delay:g} s",
                    error=message,
                    progress=self.state.progress,
                    next_retry_at=time.time() + delay,
                )
                self._cache = None
                log.error("model %s: %s; retrying in %g s", self.model, message, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 600.0)

    def _set(self, phase: str, detail: str, progress: Progress | None = None) -> None:
        self.state = ModelState(phase=phase, detail=detail, progress=progress)

    async def _wait_for_ollama(self) -> None:
        pause = 0.2
        announced = False
        while True:
            try:
                await self.upstream.get_json("/api/version", _PROBE_TIMEOUT)
                return
            except ApiError as exc:
                if not announced:
                    log.info("waiting for Ollama at %s: %s", self.upstream.url, exc.message)
                    announced = True
                self._set("waiting_for_ollama", f"waiting for Ollama at {self.upstream.url}")
                self.state.error = exc.message
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    async def _pull(self) -> None:
        progress = Progress(status="starting")
        self._set("pulling", f"pulling {self.model}", progress)
        log.info("pulling model %s", self.model)
        body = json.dumps({"model": self.model, "stream": True}).encode()
        loop = asyncio.get_running_loop()
        far = loop.time() + 365 * 86400.0
        response = await self.upstream.open(
            "/api/pull",
            body,
            deadline=loop.time() + self.settings.connect_timeout_seconds + 30,
            limit=self.settings.connect_timeout_seconds + 30,
            what="pull: no answer from Ollama",
        )
        try:
            if response.status_code != 200:
                raw = await self.upstream.read_all(response, deadline=far, limit=0, what="pull")
                raise PullFailed(_reason(raw) or f"Ollama answered HTTP {response.status_code}")
            last_log = 0.0
            last_status = ""
            last_decile = -1
            succeeded = False
            idle = self.settings.stream_idle_timeout_seconds
            lines = response.aiter_lines()
            while True:
                try:
                    async with asyncio.timeout(idle):
                        line = await anext(lines)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise PullFailed(f"the pull made no progress for {idle:g} s") from None
                except httpx.HTTPError as exc:
                    raise PullFailed(
                        f"the connection to Ollama broke during the pull: {exc}"
                    ) from None
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if "error" in event:
                    raise PullFailed(str(event["error"]))
                progress = Progress(
                    status=str(event.get("status", "")),
                    digest=event.get("digest"),
                    completed=event.get("completed"),
                    total=event.get("total"),
                )
                self._set("pulling", f"pulling {self.model}: {progress.status}", progress)
                if progress.ratio is not None:
                    self.metrics.model_pull_ratio.set(progress.ratio)
                # One log line per new step, per tenth downloaded, and at least every 5 s.
                now = time.monotonic()
                ratio = progress.ratio
                decile = -1 if ratio is None else int(ratio * 10)
                if (
                    progress.status != last_status
                    or decile != last_decile
                    or now - last_log >= _LOG_EVERY_SECONDS
                ):
                    last_log, last_status, last_decile = now, progress.status, decile
                    log.info("pull %s: %s%s", self.model, progress.status, _percent(progress))
                if progress.status == "success":
                    succeeded = True
            if not succeeded:
                raise PullFailed("the pull ended before Ollama reported success")
        finally:
            await response.aclose()
        self._pulled_once = True
        self.metrics.model_pull_ratio.set(1)

    async def _warm(self) -> None:
        self._set("warming", f"loading {self.model} into memory")
        log.info("warming model %s (keep_alive %s)", self.model, self.settings.model_keep_alive)
        await self.upstream.post_json(
            "/api/generate",
            {"model": self.model, "keep_alive": self.settings.keep_alive_value, "stream": False},
            limit=self.settings.first_token_timeout_seconds,
        )

    # --- readiness ------------------------------------------------------------------------------

    async def readiness(self) -> Readiness:
        """Ready when the start-up work is done and Ollama lists the model as loaded.

        Cached for READINESS_CACHE_SECONDS, and concurrent probes share one upstream check.
        """
        if self.state.phase != "ready":
            return Readiness(False, self._body(ready=False))
        now = time.monotonic()
        if self._cache is not None and now - self._cache[0] < self.settings.readiness_cache_seconds:
            return self._cache[1]
        if self._check is None:
            self._check = asyncio.ensure_future(self._probe())
            self._check.add_done_callback(self._checked)
        return await asyncio.shield(self._check)

    def _checked(self, future: asyncio.Future[Readiness]) -> None:
        self._check = None
        if not future.cancelled() and future.exception() is None:
            self._cache = (time.monotonic(), future.result())

    async def _probe(self) -> Readiness:
        try:
            loaded = model_in(await self.upstream.get_json("/api/ps", _PROBE_TIMEOUT), self.model)
        except ApiError as exc:
            self.metrics.model_ready.set(0)
            return Readiness(False, self._body(ready=False, error=exc.message, loaded=None))
        if loaded:
            self.metrics.model_ready.set(1)
            return Readiness(True, self._body(ready=True, loaded=True))
        # Unloaded behind our back (Ollama restarted, or keep_alive ran out): load it again.
        self.metrics.model_ready.set(0)
        log.warning("model %s is no longer loaded in Ollama; loading it again", self.model)
        self._set("checking", f"{self.model} was not loaded; loading it again")
        self.start()
        return Readiness(False, self._body(ready=False, loaded=False))

    def _body(
        self, *, ready: bool, error: str | None = None, loaded: bool | None = None
    ) -> dict[str, Any]:
        state = self.state
        return {
            "status": "ready" if ready else "not_ready",
            "model": self.model,
            "phase": state.phase,
            "detail": state.detail,
            "loaded": loaded,
            "error": error or state.error,
            "progress": _progress_body(state.progress),
            "next_retry_at": state.next_retry_at,
            "ollama": self.upstream.url,
        }


def _progress_body(progress: Progress | None) -> dict[str, Any] | None:
    if progress is None:
        return None
    body = asdict(progress)
    ratio = progress.ratio
    body["percent"] = None if ratio is None else round(ratio * 100, 1)
    return body


def _percent(progress: Progress) -> str:
    ratio = progress.ratio
    return "" if ratio is None else f" {ratio * 100:.1f}%"


def _reason(raw: bytes) -> str:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace").strip()
    if isinstance(parsed, dict) and "error" in parsed:
        return str(parsed["error"])
    return ""
