"""LOG_FORMAT: one JSON object per line for collectors, or plain text."""

from __future__ import annotations

import json
import logging

import pytest
from llmservice_backend.logging_setup import JsonFormatter, configure
from llmservice_backend.settings import Settings


def test_json_lines() -> None:
    record = logging.LogRecord(
        "llmservice_backend.model", logging.INFO, __file__, 1, "pull %s: %s", ("m", "success"), None
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "info"
    assert entry["logger"] == "llmservice_backend.model"
    assert entry["message"] == "pull m: success"
    assert entry["time"].endswith("+00:00")


def test_configure_routes_uvicorn_through_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure(Settings.from_env({"LOG_FORMAT": "json", "LOG_LEVEL": "warning"}))
        logging.getLogger("uvicorn.error").warning("hello %d", 5)
        logging.getLogger("llmservice_backend").info("not shown at warning")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
        assert [(e["logger"], e["message"]) for e in lines] == [("uvicorn.error", "hello 5")]
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
