"""Getting the model into Ollama and keeping an eye on it: pull, warm, readiness.

Start-up: wait for Ollama, pull the model when it is missing (or always, per the pull
policy), then warm it (load it into memory). The work runs in the background so that
/healthz answers at once while /readyz explains what is going on (pull progress, or why the
pull failed, in Ollama's own words).

A failed pull is retried here a few times with a growing pause when it looks transient
(connection trouble, a 5xx, a stalled download). When it is final (Ollama says the model
does not exist, pull policy Never and the model is missing, or the attempts are used up),
the manager calls ``on_failure`` with Ollama's reason; the process then writes the
termination message and exits (see :mod:`.termination`), which is how the failure reaches
the LLMService status, and the kubelet's restart back-off retries from then on.

Readiness: a pod becomes Ready once its start-up pull and warm-up succeeded, and then stays
Ready while Ollama answers and has the model. Whether the model is in memory right now does
not matter: with a keep_alive other than -1 Ollama unloads an idle model and loads it again
on the next request, and making every idle pod NotReady at about the same time would empty
the Service. /readyz says whether the model is loaded; with keep_alive -1 (keep it for ever)
an unloaded model (Ollama restarted) is loaded again in the background. A model that has
gone from Ollama makes the pod NotReady and runs the start-up work again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
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


# Words in Ollama's reason that mean retrying cannot help: the model or tag does not exist,
# the name is malformed, or the registry refuses us.
_PERMANENT_REASONS = (
    "file does not exist",
    "does not exist",
    "not found",
    "manifest unknown",
    "manifest_unknown",
    "name_unknown",
    "invalid model name",
    "unauthorized",
)


def is_permanent(reason: str, status: int | None = None) -> bool:
    """Whether a pull failure is final: a client error, or Ollama says the model is not there."""
    if status is not None and 400 <= status < 500:
        return True
    lowered = reason.lower()
    return any(words in lowered for words in _PERMANENT_REASONS)


class PullFailed(Exception):
    """A pull that did not succeed, with Ollama's reason; permanent ones are not retried."""

    def __init__(self, reason: str, *, permanent: bool | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = is_permanent(reason) if permanent is None else permanent


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
    def __init__(
        self,
        settings: Settings,
        upstream: Upstream,
        metrics: Metrics,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.upstream = upstream
        self.metrics = metrics
        self.on_failure = on_failure
        self.model = settings.model_name
        self.state = ModelState()
        self._pulled_once = False
        self._ensure_task: asyncio.Task[None] | None = None
        self._rewarm_task: asyncio.Task[None] | None = None
        self._cache: tuple[float, Readiness] | None = None
        self._check: asyncio.Future[Readiness] | None = None

    # --- the background work ------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Run ensure() in the background (once at a time)."""
        if self._ensure_task is None or self._ensure_task.done():
            self._ensure_task = asyncio.create_task(self.ensure(), name="model-ensure")
        return self._ensure_task

    async def stop(self) -> None:
        tasks = [t for t in (self._ensure_task, self._rewarm_task) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def ensure(self) -> None:
        """Until the model is present and loaded: wait for Ollama, pull if allowed, warm.

        Returns when ready, or after reporting a final pull failure to on_failure.
        """
        delay = self.settings.pull_retry_seconds
        attempts = 0
        while True:
            try:
                await self._wait_for_ollama()
                self._set("checking", f"looking for {self.model} in Ollama")
                present = model_in(
                    await self.upstream.get_json("/api/tags", _PROBE_TIMEOUT), self.model
                )
                policy = self.settings.model_pull_policy
                if (policy is PullPolicy.ALWAYS and not self._pulled_once) or not present:
                    if not present and policy is PullPolicy.NEVER:
                        raise PullFailed(
                            f"model {self.model} is not in Ollama and MODEL_PULL_POLICY is Never",
                            permanent=True,
                        )
                    attempts += 1
                    await self._pull()
                await self._warm()
                self._set("ready", f"{self.model} is present and loaded")
                self._cache = None
                self.metrics.model_ready.set(1)
                self.metrics.model_loaded.set(1)
                log.info("model %s is ready", self.model)
                return
            except PullFailed as exc:
                if exc.permanent or attempts >= self.settings.pull_attempts:
                    self._give_up(exc.reason, attempts)
                    return
                self._retry_later(f"pull attempt {attempts} failed", exc.reason, delay)
            except ApiError as exc:
                # Ollama trouble outside the pull (listing, loading): not the pull's fault.
                self._retry_later("Ollama failed", exc.message, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 600.0)

    def _retry_later(self, what: str, reason: str, delay: float) -> None:
        self.metrics.model_ready.set(0)
        self.state = ModelState(
            phase="failed",
            detail=f"{what}; retrying in {delay:g} s",
            error=reason,
            progress=self.state.progress,
            next_retry_at=time.time() + delay,
        )
        self._cache = None
        log.error("model %s: %s: %s; retrying in %g s", self.model, what, reason, delay)

    def _give_up(self, reason: str, attempts: int) -> None:
        self.metrics.model_ready.set(0)
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        self.state = ModelState(
            phase="failed",
            detail=f"the model pull failed for good{tried}; the backend stops",
            error=reason,
            progress=self.state.progress,
        )
        self._cache = None
        log.error("model pull failed for %s%s: %s", self.model, tried, reason)
        if self.on_failure is not None:
            self.on_failure(reason)

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
                    log.info("waiting for Ollama at %s: %s", self.upstream.display_url, exc.message)
                    announced = True
                self._set(
                    "waiting_for_ollama", f"waiting for Ollama at {self.upstream.display_url}"
                )
                self.state.error = exc.message
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    async def _pull(self) -> None:
        try:
            await self._pull_stream()
        except ApiError as exc:
            # Ollama unreachable or silent: transient, whatever the HTTP status says.
            raise PullFailed(exc.message, permanent=False) from None

    async def _pull_stream(self) -> None:
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
                reason = _reason(raw) or f"Ollama answered HTTP {response.status_code}"
                raise PullFailed(
                    reason, permanent=is_permanent(reason, status=response.status_code)
                )
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
                    raise PullFailed(
                        f"the pull made no progress for {idle:g} s", permanent=False
                    ) from None
                except httpx.HTTPError as exc:
                    raise PullFailed(
                        f"the connection to Ollama broke during the pull: {exc}",
                        permanent=False,
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
                raise PullFailed("the pull ended before Ollama reported success", permanent=False)
        finally:
            await response.aclose()
        self._pulled_once = True
        self.metrics.model_pull_ratio.set(1)

    async def _warm(self) -> None:
        self._set("warming", f"loading {self.model} into memory")
        log.info("warming model %s (keep_alive %s)", self.model, self.settings.model_keep_alive)
        await self._load()

    async def _load(self) -> None:
        await self.upstream.post_json(
            "/api/generate",
            {"model": self.model, "keep_alive": self.settings.keep_alive_value, "stream": False},
            limit=self.settings.first_token_timeout_seconds,
        )

    # --- readiness ------------------------------------------------------------------------------

    async def readiness(self) -> Readiness:
        """Ready once the start-up work is done, while Ollama answers and has the model.

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
            present = model_in(
                await self.upstream.get_json("/api/tags", _PROBE_TIMEOUT), self.model
            )
            loaded = model_in(await self.upstream.get_json("/api/ps", _PROBE_TIMEOUT), self.model)
        except ApiError as exc:
            self.metrics.model_ready.set(0)
            return Readiness(False, self._body(ready=False, error=exc.message, loaded=None))
        self.metrics.model_loaded.set(1 if loaded else 0)
        if not present:
            # Deleted behind our back: not Ready, and the start-up work (pull) runs again.
            self.metrics.model_ready.set(0)
            log.warning("model %s is no longer in Ollama; getting it again", self.model)
            self._set("checking", f"{self.model} is no longer in Ollama; getting it again")
            self.start()
            return Readiness(False, self._body(ready=False, loaded=loaded))
        self.metrics.model_ready.set(1)
        if loaded:
            return Readiness(True, self._body(ready=True, loaded=True))
        if self._keeps_forever():
            # keep_alive -1 asked for it to stay loaded (Ollama restarted): load it again.
            self._rewarm()
            detail = f"{self.model} is present; not loaded, loading it again in the background"
        else:
            detail = f"{self.model} is present; not loaded (idle), Ollama loads it on demand"
        return Readiness(True, self._body(ready=True, loaded=False, detail=detail))

    def _keeps_forever(self) -> bool:
        return self.settings.model_keep_alive.strip().startswith("-")

    def _rewarm(self) -> None:
        if self._rewarm_task is None or self._rewarm_task.done():
            self._rewarm_task = asyncio.create_task(self._load_again(), name="model-rewarm")

    async def _load_again(self) -> None:
        log.warning("model %s is no longer loaded in Ollama; loading it again", self.model)
        try:
            await self._load()
        except ApiError as exc:
            log.error("loading model %s again failed: %s", self.model, exc.message)
        else:
            self._cache = None

    def _body(
        self,
        *,
        ready: bool,
        error: str | None = None,
        loaded: bool | None = None,
        detail: str | None = None,
    ) -> dict[str, Any]:
        state = self.state
        return {
            "status": "ready" if ready else "not_ready",
            "model": self.model,
            "phase": state.phase,
            "detail": detail or state.detail,
            "loaded": loaded,
            "error": error or state.error,
            "progress": _progress_body(state.progress),
            "next_retry_at": state.next_retry_at,
            "ollama": self.upstream.display_url,
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
