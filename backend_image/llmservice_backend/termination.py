"""The container's last words: how a model pull that failed for good reaches the LLMService.

The operator never talks to the backend; it reads pods. When the model cannot be pulled, the
backend writes ``model pull failed: <Ollama's reason>`` to its termination-message file and
exits non-zero. The kubelet copies that file into the container's
``lastState.terminated.message``, the operator's status computation recognises the marker
and reports Degraded with reason ModelPullFailed, and the kubelet's CrashLoopBackOff restarts
the container, which is what retries the pull (with a growing pause) from then on.

The marker must stay equal to ``llmservice_operator.core.status.MODEL_PULL_FAILED_MARKER``; the
backend image does not ship the operator package, so a contract test checks the two agree.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("llmservice_backend")

MODEL_PULL_FAILED_MARKER = "model pull failed"
# The kubelet keeps at most 4096 bytes of a termination message.
MAX_MESSAGE_BYTES = 4096
# The exit status after a final pull failure (2 is a configuration error).
EXIT_MODEL_PULL_FAILED = 3


def model_pull_failed_message(reason: str) -> str:
    """The termination message for a failed pull, cut to what the kubelet keeps."""
    text = f"{MODEL_PULL_FAILED_MARKER}: {reason.strip() or 'no reason given'}"
    data = text.encode()
    if len(data) <= MAX_MESSAGE_BYTES:
        return text
    return data[:MAX_MESSAGE_BYTES].decode(errors="ignore")


def write_termination_message(path: str, text: str) -> bool:
    """Write text to the termination-message file; False (logged) when it cannot be written.

    Outside Kubernetes the default path usually does not exist or is not writable; the exit
    status and the log line still tell the story, so this never raises.
    """
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        log.warning("could not write the termination message to %s: %s", path, exc)
        return False
    return True
