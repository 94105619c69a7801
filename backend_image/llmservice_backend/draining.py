"""Shutting down without leaving anyone hanging.

On SIGTERM uvicorn stops accepting connections and gives running requests
SHUTDOWN_GRACE_SECONDS before it cancels them, which ends a stream mid-line and turns a
request still waiting for a slot into a plain-text 500. The backend learns of the shutdown
first (``server.BackendServer.shutdown``) and, instead:

- answers every queued chat, and every chat that arrives after, at once with 503 and
  Retry-After (the limiter), so clients retry on a replica that stays;
- shortly before the grace period ends, cuts what still waits on Ollama: every wait on
  Ollama goes through :meth:`Drain.timeout_at`, whose deadline is then brought forward. A
  stream ends with an error line in its own protocol (an NDJSON ``{"error": ...}`` line, an
  OpenAI SSE error event) and a proper end of body; a request whose answer had not begun gets
  a 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from .errors import ApiError

# How long before the end of the grace period the remaining waits are cut, so that the error
# lines are written and the responses ended before uvicorn cancels what is left.
CUT_MARGIN_SECONDS = 1.0


def shutting_down() -> ApiError:
    """The answer to a chat that would have to wait while the server shuts down."""
    return ApiError(
        503,
        "this server is shutting down; retry the request (another replica will answer it)",
        code="shutting_down",
        headers={"Retry-After": "1"},
    )


def cut_off(grace: float) -> ApiError:
    return ApiError(
        503,
        f"the reply was cut off: this server is shutting down and its grace period of "
        f"{grace:g} s is over; retry the request",
        code="shutting_down",
        headers={"Retry-After": "1"},
    )


class Drain:
    """Deadlines on waits for Ollama that a shutdown can bring forward."""

    def __init__(self) -> None:
        self.started = False
        self.grace = 0.0
        self.cut_at: float | None = None  # loop time
        self._live: set[asyncio.Timeout] = set()

    def begin(self, grace: float) -> None:
        """The shutdown started (in the event loop): cut every wait in grace minus a margin."""
        if self.started:
            return
        self.started = True
        self.grace = grace
        cut_at = asyncio.get_running_loop().time() + grace - min(CUT_MARGIN_SECONDS, grace / 4)
        self.cut_at = cut_at
        for timeout in self._live:
            when = timeout.when()
            if when is None or when > cut_at:
                timeout.reschedule(cut_at)

    def timeout_at(self, when: float) -> _Bounded:
        """Like asyncio.timeout_at(when); raises cut_off() when the shutdown cut it short."""
        return _Bounded(self, when)


class _Bounded:
    """An asyncio.Timeout registered with the Drain while it is active."""

    __slots__ = ("_cut", "_drain", "_timeout", "_when")

    def __init__(self, drain: Drain, when: float) -> None:
        self._drain = drain
        self._when = when
        self._cut = False
        self._timeout: asyncio.Timeout | None = None

    async def __aenter__(self) -> _Bounded:
        drain = self._drain
        when = self._when
        if drain.cut_at is not None and drain.cut_at < when:
            when = drain.cut_at
        self._timeout = timeout = asyncio.timeout_at(when)
        await timeout.__aenter__()
        drain._live.add(timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        timeout = self._timeout
        assert timeout is not None
        drain = self._drain
        drain._live.discard(timeout)
        try:
            await timeout.__aexit__(exc_type, exc, tb)
        except TimeoutError:
            if drain.cut_at is not None and timeout.when() == drain.cut_at < self._when:
                raise cut_off(drain.grace) from None
            raise
        return None
