"""The prometheus-adapter overlay (deploy/prometheus-adapter/) serves exactly the custom
metrics the operator's HPAs ask for, under the backend's own gauge names, in both of its
forms (plain config and Helm values)."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import support
import yaml
from llmservice_backend.metrics import Metrics
from llmservice_operator.api.models import DEFAULT_METRIC_NAMES, LLMService
from llmservice_operator.builders import build_hpa

ADAPTER = support.ROOT / "deploy" / "prometheus-adapter"


def rules() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = yaml.safe_load((ADAPTER / "config.yaml").read_text())["rules"]
    return found


def test_the_rules_serve_the_metrics_the_hpa_asks_for() -> None:
    served = {rule["name"]["as"] for rule in rules()}
    metrics = [{"type": t, "targetAverageValue": 1} for t in DEFAULT_METRIC_NAMES]
    service = LLMService.model_validate(
        {
            "metadata": {"name": "chat"},
            "spec": {
                "backend": {"maxConcurrentRequests": 4, "maxQueuedRequests": 8},
                "autoscaling": {"metrics": metrics},
            },
        }
    )
    asked = {m["pods"]["metric"]["name"] for m in build_hpa(service)["spec"]["metrics"]}
    assert served == asked == set(DEFAULT_METRIC_NAMES.values())


def test_each_rule_reads_the_backends_gauge_of_that_name_per_pod() -> None:
    exported = {metric.name for metric in Metrics().registry.collect()}
    for rule in rules():
        name = rule["name"]["as"]
        assert name in exported, name
        assert rule["seriesQuery"].startswith(f"{name}{{")
        assert re.fullmatch(rule["name"]["matches"], name)
        assert rule["resources"]["overrides"] == {
            "namespace": {"resource": "namespace"},
            "pod": {"resource": "pod"},
        }
        assert "<<.Series>>{<<.LabelMatchers>>}" in rule["metricsQuery"]
        assert "by (<<.GroupBy>>)" in rule["metricsQuery"]


def test_the_helm_values_carry_the_same_rules() -> None:
    values = yaml.safe_load((ADAPTER / "helm-values.yaml").read_text())
    assert values["rules"]["custom"] == rules()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_the_kustomization_makes_the_adapters_configmap() -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(ADAPTER)], check=True, capture_output=True, text=True
    ).stdout
    (configmap,) = [d for d in yaml.safe_load_all(out) if d]
    assert configmap["kind"] == "ConfigMap"
    assert configmap["metadata"] == {"name": "adapter-config", "namespace": "monitoring"}
    assert yaml.safe_load(configmap["data"]["config.yaml"])["rules"] == rules()
