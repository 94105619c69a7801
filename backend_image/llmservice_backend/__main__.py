"""`llmservice-backend` / `python -m llmservice_backend`: read the environment and serve."""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
from types import FrameType

import uvicorn

from .app import create_app
from .logging_setup import configure
from .settings import Settings, SettingsError

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
        "serving on %s:%d; Ollama at %s; model %s (pull policy %s); %d slots, queue %d",
        settings.host,
        settings.port,
        settings.ollama_url,
        settings.model_name,
        settings.model_pull_policy.value,
        settings.max_concurrent_requests,
        settings.max_queued_requests,
    )
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=settings.access_log,
        server_header=False,
        proxy_headers=False,
        # On SIGTERM uvicorn stops accepting at once, lets running streams finish for this
        # long, then cancels them.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
        timeout_keep_alive=30,
    )
    # uvicorn re-raises SIGTERM/SIGINT once it has shut down gracefully; this handler (the one
    # it restores) turns that into a normal exit, so a graceful stop ends with status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    uvicorn.Server(config).run()
    return 0


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
