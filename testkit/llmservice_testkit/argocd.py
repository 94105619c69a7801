"""Argo CD's side of a health check, played in-process: a Lua script run on an object.

Argo CD evaluates ``resource.customizations.health.<group>_<kind>`` in Lua 5.1 with the
live object as the global ``obj``, and reads ``status`` and ``message`` from the table the
script returns. The tests of deploy/argocd/llmservice-health.lua run it the same way,
through lupa's Lua 5.1 (the dev extra), with every library but Lua's base, table, string
and math removed, so a script that works here leans on nothing an Argo CD release might not
open for health checks.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Taken away before the script runs: the check must not need them.
HIDDEN = ("io", "os", "package", "require", "debug", "dofile", "loadfile", "load", "coroutine")

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "argocd" / "llmservice-health.lua"
HEALTH_KEY = "resource.customizations.health.llmservice.dev_LLMService"


class LuaUnavailable(RuntimeError):
    """lupa (the dev extra) is not installed: a reason to skip."""


def run_health_check(script: str, obj: Mapping[str, Any]) -> tuple[str, str]:
    """(status, message) as Argo CD would show them for ``obj``."""
    try:
        lua51 = importlib.import_module("lupa.lua51")
    except ImportError as exc:
        raise LuaUnavailable(
            f"lupa, which runs Lua 5.1 in Python, is not installed: {exc}"
        ) from exc
    lua = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    env = lua.globals()
    for name in HIDDEN:
        env[name] = None
    env["obj"] = lua.table_from(dict(obj), recursive=True)
    hs = lua.execute(script)
    return str(hs["status"]), str(hs["message"])


def llmservice_health(obj: Mapping[str, Any]) -> tuple[str, str]:
    """What our health check (deploy/argocd/llmservice-health.lua) says about ``obj``."""
    return run_health_check(SCRIPT.read_text(encoding="utf-8"), obj)
