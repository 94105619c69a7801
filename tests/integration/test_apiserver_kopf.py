"""A real kopf operator (``kopf run``) against the local API server, end to end."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from llmservice_testkit.emulator import ServerThread
from llmservice_testkit.pytest_plugin import api_client_for

DATA = Path(__file__).parent / "apiserver_data"
GROUP, VERSION, PLURAL = "testing.llmservice.dev", "v1", "widgets"


def eventually(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """Poll until ``check`` returns a truthy value (kopf works asynchronously)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except ApiException as exc:
            last = exc
        if last and not isinstance(last, ApiException):
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def create_crd(server: ServerThread) -> None:
    crd = yaml.safe_load((DATA / "widgets-crd.yaml").read_text())
    client.ApiextensionsV1Api(api_client_for(server)).create_custom_resource_definition(crd)


@contextlib.contextmanager
def kopf_running(server: ServerThread, log: Path) -> Iterator[Path]:
    env = {**os.environ, "KUBECONFIG": str(server.kubeconfig_path)}
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kopf",
                "run",
                "--standalone",
                "--namespace",
                "default",
                "--verbose",
                str(DATA / "kopf_widgets.py"),
            ],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            yield log
        finally:
            print(log.read_text())  # shown by pytest when the test fails
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def operator_run(fresh_apiserver: ServerThread, tmp_path: Path) -> Iterator[Path]:
    create_crd(fresh_apiserver)
    with kopf_running(fresh_apiserver, tmp_path / "kopf.log") as log:
        yield log


def test_kopf_operator_runs_without_errors(
    fresh_apiserver: ServerThread, operator_run: Path
) -> None:
    api_client = api_client_for(fresh_apiserver)
    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 2},
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)

    child = eventually(lambda: core.read_namespaced_config_map("w-child", "default"), "child")
    assert child.data == {"size": "2"}
    assert child.metadata.owner_references[0].name == "w"

    def status_is(phase: str) -> Callable[[], bool]:
        def check() -> bool:
            obj = custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w")
            return bool(obj.get("status", {}).get("phase") == phase)

        return check

    eventually(status_is("Created"), "the create handler's status patch")
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w")
    assert "testing.llmservice.dev/kopf-finalizer" in obj["metadata"]["finalizers"]
    assert obj["status"]["created"] == {"child": "w-child"}

    custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "w", {"spec": {"size": 5}}
    )
    eventually(status_is("Resized"), "the update handler's status patch")
    assert core.read_namespaced_config_map("w-child", "default").data == {"size": "5"}

    # The watch streams break and the history is lost: kopf must resume by re-listing.
    fresh_apiserver.expire_resource_versions()
    fresh_apiserver.cut_watches()
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "w", {"spec": {"size": 7}}
    )
    eventually(
        lambda: core.read_namespaced_config_map("w-child", "default").data == {"size": "7"},
        "the update handler after the watch was cut and its history expired",
    )

    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w")
    eventually(lambda: core.read_namespaced_config_map("w-farewell", "default"), "delete handler")

    def gone() -> bool:
        try:
            custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w")
        except ApiException as exc:
            return exc.status == 404
        return False

    eventually(gone, "the finalizer's removal")
    only_child = "metadata.name=w-child"
    eventually(
        lambda: not core.list_namespaced_config_map("default", field_selector=only_child).items,
        "garbage collection of the child",
    )
    time.sleep(0.5)  # let kopf log whatever the last events caused
    log = operator_run.read_text()
    assert "Handler 'created' succeeded" in log
    assert "Handler 'resized" in log
    assert "Handler 'deleted' succeeded" in log
    problems = [
        line
        for line in log.splitlines()
        if "[ERROR" in line or "Traceback" in line or "[WARNING" in line
    ]
    assert problems == [], "\n".join(problems)


def test_kopf_lists_in_pages(fresh_apiserver: ServerThread, tmp_path: Path) -> None:
    """Widgets that exist when kopf starts reach it through a list with limit=2
    (its chunk_size) and continue tokens; every one of them is handled."""
    create_crd(fresh_apiserver)
    api_client = api_client_for(fresh_apiserver)
    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    names = [f"w{i}" for i in range(5)]
    for name in names:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Widget",
            "metadata": {"name": name},
            "spec": {"size": 1},
        }
        custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
    mark = fresh_apiserver.call(lambda api: len(list(api)))
    with kopf_running(fresh_apiserver, tmp_path / "kopf.log"):
        for name in names:
            eventually(
                lambda n=name: core.read_namespaced_config_map(f"{n}-child", "default"), name
            )
    path = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"

    def widget_lists(api: Any) -> list[dict[str, str]]:
        return [
            dict(r.params)
            for r in list(api)[mark:]
            if getattr(r, "url", None) is not None
            and r.url.path == path
            and r.params.get("watch") not in ("true", "1")
        ]

    lists = fresh_apiserver.call(widget_lists)
    assert lists[:3] == [
        {"limit": "2"},
        {"limit": "2", "continue": lists[1].get("continue", "?")},
        {"limit": "2", "continue": lists[2].get("continue", "?")},
    ]
