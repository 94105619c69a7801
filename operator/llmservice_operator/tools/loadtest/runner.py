"""The run itself: simulated users and a health checker on asyncio, within the bounds.

Only the URL the user gives is contacted; proxies from the environment are ignored, so a
loopback URL stays on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from typing import TYPE_CHECKING, Any, TextIO

from llmservice_operator.tools.loadtest.config import Config
from llmservice_operator.tools.loadtest.output import progress_line
from llmservice_operator.tools.loadtest.protocols import (
    CHAT_PATHS,
    HEALTH_PATH,
    StreamState,
    chat_body,
    feed_ollama_line,
    feed_openai_line,
    http_error_detail,
    parse_unary,
    short,
    stream_result,
)
from llmservice_operator.tools.loadtest.records import (
    BAD_RESPONSE,
    CONNECTION,
    MID_STREAM,
    TIMEOUT,
    ChatResult,
    HealthResult,
    StopReason,
    http_cause,
)
from llmservice_operator.tools.loadtest.stats import Summary, summarize

if TYPE_CHECKING:
    import httpx

CONNECT_TIMEOUT_SECONDS = 10.0
PROGRESS_INTERVAL_SECONDS = 0.5


class Runner:
    """One load test: the users, the health checker and the records they produce."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.chats: list[ChatResult] = []
        self.health: list[HealthResult] = []
        self.in_flight = 0
        self.claimed = 0
        self.stop = asyncio.Event()
        self.t0 = time.perf_counter()
        headers = {"user-agent": "llmservice-operator-loadtest"}
        if config.api_key:
            headers["authorization"] = f"Bearer {config.api_key}"
        self.headers = headers

    def clock(self) -> float:
        return time.perf_counter() - self.t0

    def _claim(self) -> int | None:
        """The next request number, or None when the budget is spent or the run stops."""
        if self.stop.is_set():
            return None
        if self.config.requests is not None and self.claimed >= self.config.requests:
            return None
        self.claimed += 1
        return self.claimed - 1

    def _wants_stream(self, number: int) -> bool:
        mode = self.config.stream
        return mode == "on" or (mode == "mix" and number % 2 == 0)

    async def user(self, client: httpx.AsyncClient) -> None:
        history: list[dict[str, str]] = []
        turns = 0
        prompts = self.config.prompts
        while (number := self._claim()) is not None:
            if turns >= self.config.turns:
                history, turns = [], 0
            messages = [*history, {"role": "user", "content": prompts[number % len(prompts)]}]
            self.in_flight += 1
            try:
                result, reply = await self.chat(client, messages, self._wants_stream(number))
            finally:
                self.in_flight -= 1
            self.chats.append(result)
            if result.ok:
                history = [*messages, {"role": "assistant", "content": reply}]
                turns += 1
            else:
                history, turns = [], 0
            if self.config.think_time > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), self.config.think_time)

    async def chat(
        self, client: httpx.AsyncClient, messages: list[dict[str, str]], stream: bool
    ) -> tuple[ChatResult, str]:
        import httpx  # here, not at the top: `llmservice-operator` starts without it

        config = self.config
        url = config.url + CHAT_PATHS[config.api]
        body = chat_body(config, messages, stream)
        started = self.clock()
        state = StreamState()
        responded = False

        def failed(cause: str, detail: str) -> tuple[ChatResult, str]:
            return ChatResult(
                started, self.clock() - started, stream, cause, detail, tokens=state.tokens
            ), ""

        try:
            async with asyncio.timeout(config.timeout):
                async with client.stream("POST", url, json=body, headers=self.headers) as resp:
                    if resp.status_code != 200:
                        raw = await resp.aread()
                        return failed(
                            http_cause(resp.status_code), http_error_detail(resp.status_code, raw)
                        )
                    responded = True
                    if not stream:
                        raw = await resp.aread()
                        latency = self.clock() - started
                        try:
                            text, tokens = parse_unary(config.api, raw)
                        except ValueError as exc:
                            return failed(BAD_RESPONSE, short(str(exc)))
                        return ChatResult(started, latency, stream, tokens=tokens), text
                    feed = feed_openai_line if config.api == "openai" else feed_ollama_line
                    async for line in resp.aiter_lines():
                        feed(state, line, self.clock())
                        if state.error is not None or state.done:
                            break
        except TimeoutError:
            return failed(TIMEOUT, f"no complete answer within {config.timeout:g} s")
        except httpx.TimeoutException as exc:
            return failed(TIMEOUT, short(f"{type(exc).__name__}: {exc}"))
        except httpx.TransportError as exc:
            cause = MID_STREAM if responded else CONNECTION
            return failed(cause, short(f"{type(exc).__name__}: {exc}") or type(exc).__name__)
        except httpx.RequestError as exc:  # undecodable body, redirect loop, ...
            return failed(BAD_RESPONSE, short(f"{type(exc).__name__}: {exc}"))
        return stream_result(config.api, state, started, self.clock())

    async def check_health(self, client: httpx.AsyncClient) -> HealthResult:
        import httpx

        started = self.clock()
        try:
            async with asyncio.timeout(self.config.timeout):
                resp = await client.get(self.config.url + HEALTH_PATH, headers=self.headers)
        except (TimeoutError, httpx.TimeoutException):
            return HealthResult(started, self.clock() - started, TIMEOUT, "no answer in time")
        except httpx.TransportError as exc:
            detail = short(f"{type(exc).__name__}: {exc}")
            return HealthResult(started, self.clock() - started, CONNECTION, detail)
        except httpx.RequestError as exc:
            detail = short(f"{type(exc).__name__}: {exc}")
            return HealthResult(started, self.clock() - started, BAD_RESPONSE, detail)
        latency = self.clock() - started
        if resp.status_code != 200:
            detail = http_error_detail(resp.status_code, resp.content)
            return HealthResult(started, latency, http_cause(resp.status_code), detail)
        return HealthResult(started, latency)

    async def health_checker(self, client: httpx.AsyncClient) -> None:
        while not self.stop.is_set():
            self.health.append(await self.check_health(client))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.config.health_interval)

    async def show_progress(self, out: TextIO) -> None:
        width = 0
        try:
            while True:
                line = progress_line(self.clock(), self.chats, self.health, self.in_flight)
                out.write("\r" + line.ljust(width))
                out.flush()
                width = len(line)
                await asyncio.sleep(PROGRESS_INTERVAL_SECONDS)
        finally:
            out.write("\r" + " " * width + "\r")
            out.flush()


async def run(
    config: Config,
    *,
    stop: asyncio.Event | None = None,
    progress: TextIO | None = None,
) -> Summary:
    """Run the load test; setting ``stop`` ends it early with the figures so far (Ctrl-C)."""
    import httpx

    runner = Runner(config)
    limits = httpx.Limits(max_connections=config.users + 2, max_keepalive_connections=config.users)
    timeout = httpx.Timeout(config.timeout, connect=min(CONNECT_TIMEOUT_SECONDS, config.timeout))
    async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False) as client:
        users = [asyncio.create_task(runner.user(client)) for _ in range(config.users)]
        helpers: list[asyncio.Task[None]] = []
        if config.health_interval > 0:
            helpers.append(asyncio.create_task(runner.health_checker(client)))
        if progress is not None:
            helpers.append(asyncio.create_task(runner.show_progress(progress)))
        everyone: asyncio.Future[list[None]] = asyncio.gather(*users)
        interrupted: asyncio.Future[Any] = asyncio.create_task((stop or asyncio.Event()).wait())
        try:
            await asyncio.wait(
                [everyone, interrupted], timeout=config.duration, return_when="FIRST_COMPLETED"
            )
        finally:
            # Snapshot before cancelling: cancellation unwinds the in-flight counter.
            unfinished = runner.in_flight
            elapsed = runner.clock()
            reason: StopReason = "duration"
            if interrupted.done():
                reason = "interrupt"
            elif all(task.done() for task in users):
                reason = "requests"
            runner.stop.set()
            for task in [*users, *helpers, interrupted]:
                task.cancel()
            await asyncio.gather(everyone, *helpers, interrupted, return_exceptions=True)
    for task in users:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise RuntimeError("a simulated user failed") from task.exception()
    return summarize(
        config,
        runner.chats,
        runner.health,
        elapsed=elapsed,
        unfinished=unfinished,
        stopped_by=reason,
    )


async def run_until_interrupted(config: Config, progress: TextIO | None) -> Summary:
    """:func:`run` with Ctrl-C as its stop signal, so an interrupted run still reports."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_sigint() -> None:
        stop.set()
        # A second Ctrl-C gets Python's default: stop at once.
        loop.remove_signal_handler(signal.SIGINT)

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        return await run(config, stop=stop, progress=progress)
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGINT)
