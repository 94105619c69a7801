"""The Grafana dashboard (deploy/monitoring/llmservice-dashboard.json) asks only for
metrics our exporters really expose: every metric name in every panel's queries (and in
the template variables) is held to the ``/metrics`` outputs of a running operator and a
running backend after real traffic (the operator reconciling an LLMService on the
emulator; the backend, as in the pod with /metrics on its own port, in front of the fake
Ollama, answering chats)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from llmservice_backend.testing.fake_ollama import FakeOllama
from operator_helpers import ROOT, Cluster, running_operator, wait_for
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow

DASHBOARD = ROOT / "deploy" / "monitoring" / "llmservice-dashboard.json"
# The sample names each family type stands for in the text format.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "unknown": ("",),
}
KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or"}
    | {"unless", "offset", "inf", "nan"}
)
# An identifier, not the unit of a number or duration (the "m" of "5m").
IDENTIFIER = re.compile(r"(?<![0-9.\w])[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions,
    aggregations, keywords or label names (strings, label matchers, ranges and by/without
    groupings are removed first)."""
    text = re.sub(r'"(\\.|[^"\\])*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for found in IDENTIFIER.finditer(text):
        rest = text[found.end() :].lstrip()
        if rest.startswith("(") or found.group().lower() in KEYWORDS:
            continue
        names.add(found.group())
    return names


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable."""
    board = json.loads(DASHBOARD.read_text())
    out = []
    for panel in board["panels"]:
        for target in panel.get("targets", ()):
            out.append((f"panel {panel['title']!r}", target["expr"]))
    for variable in board.get("templating", {}).get("list", ()):
        if variable.get("type") != "query":
            continue
        query = variable["query"]
        query = query["query"] if isinstance(query, dict) else query
        metric = re.fullmatch(r"label_values\(\s*([^,]+),\s*\w+\s*\)", query)
        out.append((f"variable {variable['name']}", metric.group(1) if metric else query))
    return out


def exposed(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + s for s in SUFFIXES[family.type])
        names.update(sample.name for sample in family.samples)
    return names


def test_metric_names_are_read_from_queries() -> None:
    # The reader the main test relies on, on queries of every shape the dashboard uses.
    q = 'histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{namespace=~"$ns"}[5m])))'
    assert metric_names(q) == {"a_bucket"}
    assert metric_names("sum(rate(b_sum[5m])) / sum(rate(c_count[5m]))") == {"b_sum", "c_count"}
    assert metric_names('max by (pod) (d{x="y"}) and on (pod) e offset 5m') == {"d", "e"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def backend_metrics_after_traffic() -> str:
    """/metrics of ``python -m llmservice_backend`` (as in the pod: the metrics on their
    own port) after chats through both APIs, streamed and not, and a refused request."""
    port, metrics_port = free_port(), free_port()
    with FakeOllama() as fake:
        env = {
            **os.environ,
            "OLLAMA_URL": fake.url,
            "BACKEND_HOST": "127.0.0.1",
            "BACKEND_PORT": str(port),
            "METRICS_PORT": str(metrics_port),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "llmservice_backend"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"

            def ready() -> bool:
                assert proc.poll() is None, "the backend exited"
                try:
                    return httpx.get(url + "/readyz").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(ready, "the backend to be ready", 60)
            messages = [{"role": "user", "content": "hello"}]
            with httpx.Client(base_url=url, timeout=60) as client:
                client.post("/api/chat", json={"messages": messages})
                client.post("/api/chat", json={"messages": messages, "stream": False})
                client.post(
                    "/v1/chat/completions",
                    json={"model": "tinyllama", "messages": messages, "stream": True},
                )
                client.post("/v1/chat/completions", json={"model": "x", "messages": "bad"})
            return httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        finally:
            proc.kill()
            proc.wait()


@pytest.fixture
def operator_metrics(kubeconfig_path: Path, cluster: Cluster, tmp_path: Path) -> Iterator[str]:
    with running_operator(kubeconfig_path, [cluster.ns], tmp_path / "operator.log") as op:
        cluster.create("chat")
        wait_for(lambda: cluster.deployment("chat"), "the operator to reconcile", 60)
        wait_for(lambda: "llmservice_reconciles_total{" in op.metrics(), "a reconcile counted")
        yield op.metrics()


def test_every_dashboard_query_uses_metrics_the_exporters_expose(operator_metrics: str) -> None:
    backend = backend_metrics_after_traffic()
    # Real traffic reached both: the figures the panels plot are there, not only declared.
    assert (
        'llmservice_backend_requests_total{method="POST",route="/api/chat",status="200"}' in backend
    )
    assert "llmservice_backend_time_to_first_token_seconds_bucket" in backend
    assert 'llmservice_api_writes_total{target="Deployment"}' in operator_metrics
    known = exposed(backend) | exposed(operator_metrics)
    queries = dashboard_queries()
    assert len(queries) >= 10
    used: dict[str, set[str]] = {}
    for where, expr in queries:
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        for name in names:
            used.setdefault(name, set()).add(where)
    unknown = {name: sorted(where) for name, where in used.items() if name not in known}
    assert unknown == {}, f"metrics no exporter exposes: {unknown}"
    # Both exporters are on the dashboard.
    assert any(n.startswith("llmservice_backend_") for n in used)
    assert any(
        n.startswith("llmservice_") and not n.startswith("llmservice_backend_") for n in used
    )


def test_the_dashboard_is_a_grafana_dashboard_with_unique_panel_ids() -> None:
    board: dict[str, Any] = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    assert board["uid"] == "llmservice"
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert panel["datasource"]["uid"] == "${datasource}"
