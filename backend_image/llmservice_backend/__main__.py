"""`llmservice-backend` / `python -m llmservice_backend`: read the environment and serve.

Exit status: 0 after a graceful stop (SIGTERM), 1 when a port cannot be listened on, 2 for a
bad setting, and
:data:`.termination.EXIT_MODEL_PULL_FAILED` when the model pull failed for good, after
writing ``model pull failed: <reason>`` to TERMINATION_MESSAGE_PATH for the kubelet.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

import uvicorn

from .app import Backend, create_app
from .logging_setup import configure
from .server import BackendServer, listen, uvicorn_options
from .settings import Settings, SettingsError
from .termination import (
    EXIT_MODEL_PULL_FAILED,
    model_pull_failed_message,
    write_termination_message,
)

log = logging.getLogger("llmservice_backend")


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"llmservice-backend: configuration error: {problem}", file=sys.stderr)
        return 2
    configure(settings)
    log.info(
        "serving on %s:%d (metrics: %s); Ollama at %s; model %s (pull policy %s); "
        "%d slots, queue %d",
        settings.host,
        settings.port,
        f"port {settings.metrics_port}" if settings.metrics_port else "same port",
        settings.ollama_display_url,
        settings.model_name,
        settings.model_pull_policy.value,
        settings.max_concurrent_requests,
        settings.max_queued_requests,
    )
    failures: list[str] = []
    server: uvicorn.Server | None = None

    def pull_failed(reason: str) -> None:
        # Leave a message the operator can read from the pod, then stop serving; the
        # kubelet restarts the container (with back-off), which retries the pull.
        message = model_pull_failed_message(reason)
        failures.append(message)
        write_termination_message(settings.termination_message_path, message)
        if server is not None:
            server.should_exit = True

    app = create_app(settings, on_model_failure=pull_failed)
    backend: Backend = app.state.backend
    try:
        sockets = [listen(settings.host, settings.port)]
        if settings.metrics_port:
            sockets.append(listen(settings.host, settings.metrics_port))
    except OSError as exc:
        log.error("cannot listen on %s: %s", settings.host, exc)
        return 1
    config = uvicorn.Config(
        app,
        log_config=None,
        **uvicorn_options(settings, backend.metrics.slow_clients_dropped_by),
    )
    # uvicorn re-raises SIGTERM/SIGINT once it has shut down gracefully; this handler (the one
    # it restores) turns that into a normal exit, so a graceful stop ends with status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    server = BackendServer(config, backend.begin_shutdown)
    server.run(sockets=sockets)
    if failures:
        log.error("exiting: %s", failures[0])
        return EXIT_MODEL_PULL_FAILED
    return 0


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
