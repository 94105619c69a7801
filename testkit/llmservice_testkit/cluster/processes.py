"""The processes a local cluster starts: each logs to its own file, gets SIGTERM when its
starter dies, and is ended by its own id, never by name (other clusters, a system
containerd, may run the same programs on this machine).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SETPRIV = shutil.which("setpriv")
START_TIMEOUT = 180.0


@dataclass
class Component:
    name: str
    command: list[str]
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def launch(
    name: str,
    command: list[str],
    log: Path,
    env: dict[str, str] | None = None,
    death_signal: str = "TERM",
) -> Component:
    """Start ``command`` with its output appended to ``log``; ``death_signal`` is what it
    gets if the starter dies first."""
    log.parent.mkdir(parents=True, exist_ok=True)
    # setpriv (util-linux) makes the component get SIGTERM when the process that started
    # it dies, however it dies: a killed test run or benchmark leaves no cluster behind.
    wrapper = [SETPRIV, "--pdeathsig", death_signal, "--"] if SETPRIV else []
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*wrapper, *command],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # a Ctrl-C at the terminal reaches the starter, not them
        )
    return Component(name, command, process, log)


def wait_ready(
    component: Component, check: Callable[[], object], timeout: float = START_TIMEOUT
) -> None:
    """Poll ``check`` until it answers truthy; fail with the log's tail if the component
    exits or the time runs out."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if component.process.poll() is not None:
            raise RuntimeError(
                f"{component.name} exited with {component.process.returncode}:\n{component.tail()}"
            )
        try:
            if check():
                return
        except (OSError, urllib.error.URLError, ValueError, subprocess.SubprocessError) as exc:
            last = exc
        time.sleep(0.2)
    raise RuntimeError(
        f"{component.name} was not ready after {timeout:.0f} s (last: {last!r}):\n"
        f"{component.tail()}"
    )


def terminate(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(5)


def stop_all(components: list[Component], grace: float = 15.0) -> None:
    """Ask all at once, then wait for each (killing what outlives the grace period)."""
    for component in components:
        with contextlib.suppress(ProcessLookupError):
            if component.process.poll() is None:
                component.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for component in components:
        terminate(component.process, max(0.1, deadline - time.monotonic()))
