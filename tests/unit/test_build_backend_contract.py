"""The backend container's environment, as the Deployment builder writes it, is one the
backend (``llmservice_backend.settings``) accepts and reads back as the spec meant.

The variable names and formats are a contract between two packages written side by side;
this is where a drift between them shows up, before a pod crash-loops on a spec the API
server accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import support
from llmservice_operator.api.models import LLMService
from llmservice_operator.api.validation import InvalidLLMServiceError
from llmservice_operator.builders import build_deployment
from llmservice_operator.tools.render.validation import validate_llmservice

settings_module = pytest.importorskip("llmservice_backend.settings")

SECRET_VALUE = "an-api-key-from-the-secret"


def backend_environment(service: LLMService) -> dict[str, str]:
    """The backend's environment as the kubelet would resolve it (a Secret key resolved to a
    stand-in value)."""
    pod = build_deployment(service)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env: dict[str, str] = {}
    for var in container["env"]:
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "secretKeyRef" in var.get("valueFrom", {}):
            env[var["name"]] = SECRET_VALUE
    return env


def make(spec: dict[str, Any]) -> LLMService:
    return validate_llmservice(support.llmservice(spec, name="c"))


@pytest.mark.parametrize("path", support.EXAMPLES, ids=lambda p: p.stem)
def test_backend_reads_the_environment_of_every_example(path: Path) -> None:
    service = validate_llmservice(support.load_example(path))
    settings = settings_module.Settings.from_env(backend_environment(service))
    spec = service.spec
    assert settings.model_name == spec.model.name
    assert settings.model_pull_policy.value == spec.model.pull_policy
    assert settings.model_keep_alive == spec.model.keep_alive
    assert settings.port == spec.backend.port
    assert settings.max_concurrent_requests == spec.backend.max_concurrent_requests
    assert settings.max_queued_requests == spec.backend.max_queued_requests
    assert settings.ollama_url == "http://127.0.0.1:11434"
    assert 0 < settings.shutdown_grace_seconds < spec.pod.termination_grace_period_seconds
    assert settings.api_key == (SECRET_VALUE if spec.backend.api_key_secret_ref else None)


@pytest.mark.parametrize(
    "model",
    [
        "tinyllama",
        "llama3.2:1b",
        "hf.co/bartowski/SmolLM2-135M-Instruct-GGUF:Q4_K_M",
        "registry.example/team/model:v1",
        "registry.example:5000/team/model:v1",
        "model:_tag",
    ],
)
def test_backend_accepts_model_names_the_api_accepts(model: str) -> None:
    service = make({"model": {"name": model}})
    assert settings_module.Settings.from_env(backend_environment(service)).model_name == model


@pytest.mark.parametrize(
    "keep_alive",
    [
        "-1",
        "0",
        "300",
        "1.5",
        "5m",
        "1h30m",
        "-1s",
    ],
)
def test_backend_accepts_keep_alives_the_api_accepts(keep_alive: str) -> None:
    service = make({"model": {"keepAlive": keep_alive}})
    settings = settings_module.Settings.from_env(backend_environment(service))
    assert settings.model_keep_alive == keep_alive


@pytest.mark.parametrize("keep_alive", ["1m30", "5 m", "m", "--1", "1.m"])
def test_api_rejects_keep_alives_that_are_no_go_duration(keep_alive: str) -> None:
    document = support.llmservice({"model": {"keepAlive": keep_alive}}, name="c")
    with pytest.raises(InvalidLLMServiceError, match=r"spec\.model\.keepAlive"):
        validate_llmservice(document)


@pytest.mark.parametrize("grace", [1, 2, 30, 120, 3600])
def test_backend_accepts_the_drain_budget_for_any_grace_period(grace: int) -> None:
    service = make({"pod": {"terminationGracePeriodSeconds": grace}})
    settings = settings_module.Settings.from_env(backend_environment(service))
    assert 0 < settings.shutdown_grace_seconds <= grace


@pytest.mark.parametrize(("port", "metrics"), [(8080, 9090), (9090, 9091)])
def test_metrics_have_a_port_of_their_own_named_in_the_pod(port: int, metrics: int) -> None:
    """The backend serves /metrics only on METRICS_PORT; the pod names that port for
    scrapers, and the Service (backend port only) does not expose it."""
    service = make({"backend": {"port": port}})
    settings = settings_module.Settings.from_env(backend_environment(service))
    assert settings.metrics_port == metrics
    (container,) = build_deployment(service)["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": port, "metrics": metrics}
