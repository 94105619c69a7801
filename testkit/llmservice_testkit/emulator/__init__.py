"""A local Kubernetes API server for tests, built on kmock's KubernetesEmulator.

It is not a cluster: see README.md in this folder for what it emulates and what it does not.
"""

from __future__ import annotations

from llmservice_testkit.emulator.thread import ServerThread

__all__ = ["ServerThread"]
