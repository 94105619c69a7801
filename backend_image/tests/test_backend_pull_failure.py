"""The real process (`python -m llmservice_backend`) when its model pull fails for good.

It must leave ``model pull failed: <Ollama's reason>`` in its termination-message file and
exit non-zero: the kubelet copies the file into the container's lastState, where the
operator reads it (Degraded, ModelPullFailed), and restarts the container with back-off.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from llmservice_backend.termination import EXIT_MODEL_PULL_FAILED, MODEL_PULL_FAILED_MARKER
from llmservice_backend.testing.fake_ollama import FakeOllama

pytestmark = pytest.mark.slow

REASON = "pull model manifest: file does not exist"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_backend(
    fake: FakeOllama, message_path: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the backend until it exits by itself (a hang fails the test at the time-out)."""
    environment = {
        **os.environ,
        "OLLAMA_URL": fake.url,
        "BACKEND_HOST": "127.0.0.1",
        "BACKEND_PORT": str(free_port()),
        "TERMINATION_MESSAGE_PATH": str(message_path),
        "PULL_RETRY_SECONDS": "0.05",
        "LOG_LEVEL": "info",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "llmservice_backend"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_model_ollama_does_not_have_ends_the_process_with_the_reason(
    fake: FakeOllama, tmp_path: Path
) -> None:
    fake.remove("tinyllama")
    fake.faults.pull_error = REASON
    message_path = tmp_path / "termination-log"
    done = run_backend(fake, message_path)
    assert done.returncode == EXIT_MODEL_PULL_FAILED, done.stderr
    assert message_path.read_text() == f"{MODEL_PULL_FAILED_MARKER}: {REASON}"
    assert fake.pulls == ["tinyllama"]
    assert REASON in done.stderr


def test_transient_failures_are_retried_before_the_process_gives_up(
    fake: FakeOllama, tmp_path: Path
) -> None:
    fake.remove("tinyllama")
    fake.faults.pull_status = 500
    fake.faults.pull_error = "unexpected server error"
    message_path = tmp_path / "termination-log"
    done = run_backend(fake, message_path, PULL_ATTEMPTS="3")
    assert done.returncode == EXIT_MODEL_PULL_FAILED, done.stderr
    assert fake.pulls == ["tinyllama"] * 3
    text = message_path.read_text()
    assert text.startswith(MODEL_PULL_FAILED_MARKER)
    assert "unexpected server error" in text


def test_pull_policy_never_and_no_model_ends_the_process(fake: FakeOllama, tmp_path: Path) -> None:
    fake.remove("tinyllama")
    message_path = tmp_path / "termination-log"
    done = run_backend(fake, message_path, MODEL_PULL_POLICY="Never")
    assert done.returncode == EXIT_MODEL_PULL_FAILED, done.stderr
    assert fake.pulls == []
    text = message_path.read_text()
    assert text.startswith(f"{MODEL_PULL_FAILED_MARKER}: ")
    assert "MODEL_PULL_POLICY is Never" in text


def test_an_unwritable_message_file_does_not_stop_the_exit(
    fake: FakeOllama, tmp_path: Path
) -> None:
    fake.remove("tinyllama")
    fake.faults.pull_error = REASON
    message_path = tmp_path / "no-such-folder" / "termination-log"
    done = run_backend(fake, message_path)
    assert done.returncode == EXIT_MODEL_PULL_FAILED, done.stderr
    assert "could not write the termination message" in done.stderr
    assert not message_path.exists()
    assert "Traceback" not in done.stderr
