"""Paged lists (``limit``/``continue``) on the local API server: consistent pages, the
resourceVersion of the first page on every page, 410 Expired and 400 for bad tokens; through
httpx, the official kubernetes client and ``kubectl get --chunk-size``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import kubernetes
import pytest
from llmservice_testkit.emulator import ServerThread
from llmservice_testkit.emulator.paging import Pager

NAMES = [f"cm-{i}" for i in range(7)]


def create_configmaps(k8s_api_client: Any, namespace: str, names: list[str]) -> None:
    core: Any = kubernetes.client.CoreV1Api(k8s_api_client)
    for i, name in enumerate(names):
        body = {
            "metadata": {"name": name, "labels": {"parity": "even" if i % 2 == 0 else "odd"}},
            "data": {"v": "1"},
        }
        core.create_namespaced_config_map(namespace, body)


def get(server: ServerThread, path: str, **params: str) -> httpx.Response:
    return httpx.get(server.url + path, params=params, timeout=30)


def pages(server: ServerThread, path: str, **params: str) -> list[dict[str, Any]]:
    """Every page of a list, following continue tokens."""
    found = []
    token = ""
    while True:
        response = get(server, path, **params, **({"continue": token} if token else {}))
        assert response.status_code == 200, response.text
        found.append(response.json())
        token = found[-1]["metadata"].get("continue", "")
        if not token:
            return found


def test_pages_are_consistent_with_the_first(
    apiserver: ServerThread, k8s_api_client: Any, namespace: str
) -> None:
    create_configmaps(k8s_api_client, namespace, NAMES)
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    first = get(apiserver, path, limit="3").json()
    assert [o["metadata"]["name"] for o in first["items"]] == NAMES[:3]
    assert first["metadata"]["remainingItemCount"] == 4
    token = first["metadata"]["continue"]
    rv = first["metadata"]["resourceVersion"]

    # Writes between pages: a new object, a change and a deletion among the later ones.
    core: Any = kubernetes.client.CoreV1Api(k8s_api_client)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cm-9"}})
    core.patch_namespaced_config_map("cm-4", namespace, {"data": {"v": "2"}})
    core.delete_namespaced_config_map("cm-5", namespace)

    second = get(apiserver, path, limit="3", **{"continue": token}).json()
    assert [o["metadata"]["name"] for o in second["items"]] == NAMES[3:6]
    assert second["items"][1]["data"] == {"v": "1"}  # cm-4 as it was at the first page
    assert second["metadata"]["resourceVersion"] == rv
    assert second["metadata"]["remainingItemCount"] == 1
    last = get(apiserver, path, limit="3", **{"continue": second["metadata"]["continue"]}).json()
    assert [o["metadata"]["name"] for o in last["items"]] == NAMES[6:]
    assert "continue" not in last["metadata"]
    assert last["metadata"]["resourceVersion"] == rv

    # A list started now sees the writes.
    now = [o["metadata"]["name"] for p in pages(apiserver, path, limit="4") for o in p["items"]]
    assert now == [*NAMES[:5], "cm-6", "cm-9"]


def test_a_list_that_fits_in_one_page_has_no_continue(
    apiserver: ServerThread, k8s_api_client: Any, namespace: str
) -> None:
    create_configmaps(k8s_api_client, namespace, NAMES[:2])
    body = get(apiserver, f"/api/v1/namespaces/{namespace}/configmaps", limit="2").json()
    assert len(body["items"]) == 2
    assert "continue" not in body["metadata"]
    body = get(apiserver, f"/api/v1/namespaces/{namespace}/configmaps", limit="0").json()
    assert len(body["items"]) == 2  # 0: no limit


def test_selectors_apply_to_every_page(
    apiserver: ServerThread, k8s_api_client: Any, namespace: str
) -> None:
    create_configmaps(k8s_api_client, namespace, NAMES)
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    found = pages(apiserver, path, limit="2", labelSelector="parity=even")
    names = [o["metadata"]["name"] for p in found for o in p["items"]]
    assert names == ["cm-0", "cm-2", "cm-4", "cm-6"]
    assert [len(p["items"]) for p in found] == [2, 2]
    assert all("remainingItemCount" not in p["metadata"] for p in found)


def test_a_cluster_wide_list_pages_across_namespaces(
    apiserver: ServerThread, k8s_api_client: Any, namespace: str
) -> None:
    create_configmaps(k8s_api_client, namespace, NAMES[:3])
    paged = [o for p in pages(apiserver, "/api/v1/configmaps", limit="2") for o in p["items"]]
    keys = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in paged]
    assert keys == sorted(set(keys))  # in order, none twice
    assert [name for ns, name in keys if ns == namespace] == NAMES[:3]


def test_bad_tokens_are_400(apiserver: ServerThread, k8s_api_client: Any, namespace: str) -> None:
    create_configmaps(k8s_api_client, namespace, NAMES[:3])
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    for token in ("not a token!", "eyJhIjogMX0"):  # the second is valid base64 of {"a": 1}
        response = get(apiserver, path, limit="1", **{"continue": token})
        assert response.status_code == 400
        assert response.json()["reason"] == "BadRequest"
        assert "continue" in response.json()["message"]
    token = get(apiserver, path, limit="1").json()["metadata"]["continue"]
    other = get(apiserver, f"/api/v1/namespaces/{namespace}/secrets", **{"continue": token})
    assert other.status_code == 400
    both = get(apiserver, path, resourceVersion="1", **{"continue": token})
    assert both.status_code == 400
    assert "resourceVersion" in both.json()["message"]
    assert get(apiserver, path, limit="two").status_code == 400


def test_an_expired_token_is_410_with_a_fresh_token(
    fresh_apiserver: ServerThread, tmp_path: Path
) -> None:
    client: Any = kubernetes.client.ApiClient(
        kubernetes.client.Configuration(host=fresh_apiserver.url)
    )
    create_configmaps(client, "default", NAMES)
    path = "/api/v1/namespaces/default/configmaps"
    token = get(fresh_apiserver, path, limit="3").json()["metadata"]["continue"]
    fresh_apiserver.expire_resource_versions()  # as etcd compacting the revision
    response = get(fresh_apiserver, path, limit="3", **{"continue": token})
    assert response.status_code == 410
    status = response.json()
    assert status["reason"] == "Expired"
    assert status["kind"] == "Status"
    # The inconsistent continuation: after the same key, from the current state.
    rest = get(fresh_apiserver, path, limit="10", **{"continue": status["metadata"]["continue"]})
    assert [o["metadata"]["name"] for o in rest.json()["items"]] == NAMES[3:]
    client.close()


def test_the_official_client_pages(k8s_api_client: Any, namespace: str) -> None:
    create_configmaps(k8s_api_client, namespace, NAMES)
    core: Any = kubernetes.client.CoreV1Api(k8s_api_client)
    names: list[str] = []
    token = None
    calls = 0
    while True:
        page = core.list_namespaced_config_map(namespace, limit=3, _continue=token)
        calls += 1
        names += [item.metadata.name for item in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert names == NAMES
    assert calls == 3


def test_snapshots_expire_after_their_ttl_and_are_bounded() -> None:
    now = [0.0]
    pager = Pager(ttl=10, max_snapshots=2, clock=lambda: now[0])
    objs = [{"metadata": {"namespace": "n", "name": f"o{i}"}} for i in range(3)]
    storage = ("", "configmaps")
    snap = pager.snapshot(storage, 5, objs)
    page = pager.page(snap, None, 1, lambda o: True, True)
    assert page.continue_token is not None
    resumed, after = pager.resume(page.continue_token, storage, lambda: (6, objs))
    assert resumed is snap
    assert after == ("n", "o0")
    now[0] = 11.0
    from llmservice_testkit.emulator.errors import ApiError

    with pytest.raises(ApiError) as expired:
        pager.resume(page.continue_token, storage, lambda: (6, objs))
    assert expired.value.code == 410
    for _ in range(5):
        fresh = pager.snapshot(storage, 7, objs)
        pager.page(fresh, None, 1, lambda o: True, True)
    assert len(pager) == 2


KUBECTL = shutil.which("kubectl")


@pytest.mark.kubectl
@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_get_with_chunk_size_pages(
    apiserver: ServerThread,
    kubeconfig_path: Path,
    k8s_api_client: Any,
    namespace: str,
    tmp_path: Path,
) -> None:
    create_configmaps(k8s_api_client, namespace, NAMES)
    mark = apiserver.call(lambda api: len(list(api)))
    done = subprocess.run(
        [
            str(KUBECTL),
            "--kubeconfig",
            str(kubeconfig_path),
            "--cache-dir",
            str(tmp_path / "cache"),
            "-n",
            namespace,
            "get",
            "configmaps",
            "--chunk-size=2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = [line.split()[0] for line in done.stdout.splitlines()[1:]]
    assert rows == NAMES
    assert done.stdout.splitlines()[0].split() == ["NAME", "AGE"]  # one header for all pages

    def list_requests(api: Any) -> list[dict[str, str]]:
        return [
            dict(r.params)
            for r in list(api)[mark:]
            if getattr(r, "url", None) is not None
            and r.url.path == f"/api/v1/namespaces/{namespace}/configmaps"
        ]

    requests = apiserver.call(list_requests)
    assert len(requests) == 4  # 7 objects in pages of 2
    assert all(r.get("limit") == "2" for r in requests)
    assert sum(1 for r in requests if r.get("continue")) == 3
