"""What the simulated users ask: a built-in set, or one prompt per line of a file."""

from __future__ import annotations

from pathlib import Path

from llmservice_operator.tools.loadtest.records import UsageError

BUILTIN_PROMPTS = (
    "What is Kubernetes, in two sentences?",
    "Explain what a sidecar container is.",
    "Write a haiku about autoscaling.",
    "What does a HorizontalPodAutoscaler do?",
    "Give three tips for writing clear error messages.",
    "Summarize the plot of a heist movie in one paragraph.",
    "What is the difference between a process and a thread?",
    "Suggest a name for a friendly chat bot.",
    "How do I reverse a list in Python?",
    "Why is the sky blue?",
    "List four uses of a load test.",
    "Translate 'good morning' into French and Spanish.",
)


def read_prompts(path: str) -> tuple[str, ...]:
    """One prompt per non-blank line of ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--prompts: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--prompts: {path} is not UTF-8 text") from None
    prompts = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not prompts:
        raise UsageError(f"--prompts: {path} has no prompts (every line is blank)")
    return prompts
