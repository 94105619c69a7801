"""The one kubeconfig loader (operator, report, playground): which file, which context, which
namespace, and errors worded for the user."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from llmservice_operator.runtime.kubeconfig import KubeconfigError, connect
from llmservice_testkit.emulator import kubeconfig


def two_contexts(path: Path) -> Path:
    config = yaml.safe_load(kubeconfig.render("http://127.0.0.1:1", namespace="team-a"))
    other = {
        "name": "other",
        "context": {"cluster": kubeconfig.CONTEXT, "user": kubeconfig.CONTEXT},
    }
    config["contexts"].append(other)
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_current_context_and_its_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(two_contexts(tmp_path / "config")))
    cluster = connect()
    assert cluster.namespace == "team-a"
    assert cluster.api_client.configuration.host == "http://127.0.0.1:1"
    # outside a pod, asking for the service account first still ends at the kubeconfig
    assert connect(in_cluster_first=True, user_agent="x/1").api_client.user_agent == "x/1"


def test_an_explicit_file_and_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    path = two_contexts(tmp_path / "config")
    assert connect(str(path), "other").namespace == "default"


def test_no_configuration_at_all_is_said_plainly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(KubeconfigError, match="no usable Kubernetes configuration"):
        connect()
