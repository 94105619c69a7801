"""The API models: defaults follow the seeds, wire names follow DESIGN.md, round trips hold."""

from __future__ import annotations

from typing import Any

import pytest
import support
from llmservice_operator.api import models
from llmservice_operator.api.models import LLMService, LLMServiceSpec, LLMServiceStatus
from pydantic import ValidationError


def bare() -> dict[str, Any]:
    document = support.llmservice(name="x", namespace=None)
    del document["spec"]
    return document


def test_defaults_are_the_seeds_setup() -> None:
    """TinyLlama in Ollama sidecars, HPA on CPU 70 % and memory 80 %, 2 to 6 replicas."""
    spec = LLMService.model_validate(bare()).spec
    assert spec.model.name == "tinyllama"
    assert spec.autoscaling.enabled is True
    assert (spec.autoscaling.min_replicas, spec.autoscaling.max_replicas) == (2, 6)
    assert spec.autoscaling.target_cpu_utilization_percentage == 70
    assert spec.autoscaling.target_memory_utilization_percentage == 80
    assert spec.replicas == 2


def test_other_defaults() -> None:
    spec = LLMServiceSpec()
    assert spec.model.pull_policy == "IfNotPresent"
    assert spec.model.keep_alive == "-1"
    assert spec.model.storage.type == "EmptyDir"
    assert spec.backend.port == 8080
    assert spec.backend.port != models.OLLAMA_PORT
    assert spec.service.type == "ClusterIP"
    assert spec.service.port == 80
    assert spec.service.node_port is None
    assert spec.gpu.count == 0
    # autoscaling on CPU and memory needs requests on both containers
    for resources in (spec.backend.resources, spec.ollama.resources):
        assert {"cpu", "memory"} <= resources.requests.keys()


def test_the_ollama_image_is_pinned() -> None:
    image = LLMServiceSpec().ollama.image
    assert image == models.DEFAULT_OLLAMA_IMAGE
    name, _, tag = image.rpartition(":")
    assert name == "ollama/ollama"
    assert tag
    assert tag != "latest"


def test_a_nodeport_service_is_possible() -> None:
    spec = LLMServiceSpec.model_validate({"service": {"type": "NodePort", "nodePort": 30080}})
    assert spec.service.node_port == 30080


def test_wire_names_are_camel_case_as_designed() -> None:
    api = LLMService.model_validate(bare()).to_api()
    autoscaling = api["spec"]["autoscaling"]
    assert set(autoscaling) == {
        "enabled",
        "minReplicas",
        "maxReplicas",
        "targetCPUUtilizationPercentage",
        "targetMemoryUtilizationPercentage",
        "scaleDownStabilizationSeconds",
        "behavior",
    }
    assert set(api["spec"]) == {
        "model",
        "replicas",
        "autoscaling",
        "backend",
        "ollama",
        "service",
        "pod",
        "gpu",
        "podDisruptionBudget",
        "monitoring",
        "networkPolicy",
    }
    assert "maxConcurrentRequests" in api["spec"]["backend"]
    assert "numParallel" in api["spec"]["ollama"]


def test_to_api_round_trips() -> None:
    service = LLMService.model_validate(bare())
    again = LLMService.model_validate(service.to_api())
    assert again == service


def test_status_wire_names() -> None:
    status = LLMServiceStatus.model_validate(
        {
            "observedGeneration": 3,
            "phase": "Ready",
            "ready": "2/2",
            "desiredReplicas": 2,
            "selector": "a=b",
            "autoscaling": {"state": "Stable", "currentCPUUtilizationPercentage": 41},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "AllReplicasReady",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                    "observedGeneration": 3,
                }
            ],
        }
    )
    assert status.autoscaling is not None
    assert status.autoscaling.current_cpu_utilization_percentage == 41
    assert status.conditions[0].reason == "AllReplicasReady"
    dumped = status.model_dump(by_alias=True, exclude_none=True)
    assert dumped["autoscaling"]["currentCPUUtilizationPercentage"] == 41
    assert dumped["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize("value", [1, "1", "0.5", "500m", "2Gi", "1e3"])
def test_quantities_accept_integers_and_strings(value: Any) -> None:
    """Quantity fields are int-or-string, as in Kubernetes: ``cpu: 1`` is fine."""
    spec = LLMServiceSpec.model_validate(
        {"ollama": {"resources": {"requests": {"cpu": value, "memory": "1Gi"}}}}
    )
    assert spec.ollama.resources.requests["cpu"] == str(value)


@pytest.mark.parametrize("value", [True, "2Gb", "", "1.2.3", "x" * 65])
def test_quantities_reject_non_quantities(value: Any) -> None:
    with pytest.raises(ValidationError):
        LLMServiceSpec.model_validate({"ollama": {"resources": {"limits": {"cpu": value}}}})


@pytest.mark.parametrize(("value", "hint"), [(0.5, '"500m"'), (1.5, '"1500m"'), (0.0001, "500m")])
def test_a_float_quantity_is_rejected_with_a_way_out(value: float, hint: str) -> None:
    """The API server refuses a float in an int-or-string field (``must be of type
    integer,string``), so ``cpu: 0.5`` unquoted must not pass here either."""
    with pytest.raises(ValidationError) as caught:
        LLMServiceSpec.model_validate({"ollama": {"resources": {"limits": {"cpu": value}}}})
    message = str(caught.value)
    assert "quote it" in message
    assert hint in message


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="modle"):
        LLMServiceSpec.model_validate({"modle": {}})


@pytest.mark.parametrize("name", ["tinyllama", "llama3.2:1b", "hf.co/owner/repo:Q4_K_M"])
def test_model_names_ollama_accepts(name: str) -> None:
    assert LLMServiceSpec.model_validate({"model": {"name": name}}).model.name == name


@pytest.mark.parametrize("name", ["", "Tiny Llama", ":latest", "a:b:c"])
def test_model_names_ollama_rejects(name: str) -> None:
    with pytest.raises(ValidationError):
        LLMServiceSpec.model_validate({"model": {"name": name}})


@pytest.mark.parametrize("name", ["chat", "a", "tiny-llama-2"])
def test_service_names_are_dns1035_labels(name: str) -> None:
    assert LLMService.model_validate({**bare(), "metadata": {"name": name}}).metadata.name == name


@pytest.mark.parametrize("name", ["9chat", "Chat", "chat-", "a" * 64, "a.b"])
def test_names_that_cannot_name_a_service_are_rejected(name: str) -> None:
    with pytest.raises(ValidationError):
        LLMService.model_validate({**bare(), "metadata": {"name": name}})
