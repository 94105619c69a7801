"""The operator's cache of watched objects and its start-up sync: out-of-order events of
namesakes, and not reconciling before everything that existed at start has been heard of."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import kopf
import pytest
from kubernetes.client.exceptions import ApiException
from llmservice_operator.api import naming
from llmservice_operator.runtime import handlers  # noqa: F401 - registers the handlers
from llmservice_operator.runtime.cache import Cache
from llmservice_operator.runtime.controller import Controller
from llmservice_operator.runtime.kube import POD, Kind, Kube
from llmservice_operator.runtime.startup import StartupSync
from llmservice_operator.runtime.watched import WATCHED


def obj(name: str, uid: str, rv: str, **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": uid, "resourceVersion": rv},
        **extra,
    }


def test_a_deletion_removes_only_the_object_with_that_uid() -> None:
    cache = Cache()
    old, new = obj("chat", "a", "5"), obj("chat", "b", "9")
    cache.put("Deployment", ("ns", "chat"), new, {"v": "new"})  # the namesake reported first
    cache.remove("Deployment", ("ns", "chat"), "a")  # then the old one's deletion
    assert cache.get("Deployment", ("ns", "chat")) == {"v": "new"}
    cache.put("Deployment", ("ns", "chat"), old, {"v": "old"})  # a late event of the old one
    assert cache.get("Deployment", ("ns", "chat")) == {"v": "new"}
    cache.remove("Deployment", ("ns", "chat"), "b")
    assert cache.get("Deployment", ("ns", "chat")) is None
    assert ("Deployment", ("ns", "chat")) not in cache


def test_updates_of_one_object_always_replace_it() -> None:
    cache = Cache()
    cache.put("Service", ("ns", "chat"), obj("chat", "a", "7"), {"v": 1})
    cache.put("Service", ("ns", "chat"), obj("chat", "a", "8"), {"v": 2})
    assert cache.get("Service", ("ns", "chat")) == {"v": 2}
    # resourceVersions that are not numbers cannot be ordered: the later event wins
    cache.put("Service", ("ns", "chat"), obj("chat", "c", "opaque"), {"v": 3})
    assert cache.get("Service", ("ns", "chat")) == {"v": 3}
    assert cache.count("Service") == 1


def test_pods_are_kept_by_the_llmservice_they_belong_to() -> None:
    cache = Cache()
    owner = ("ns", "chat")
    cache.put_pod(owner, obj("chat-1", "p1", "3"), {"metadata": {"name": "chat-1"}})
    cache.put_pod(owner, obj("chat-2", "p2", "4"), {"metadata": {"name": "chat-2"}})
    cache.put_pod(owner, obj("chat-1", "p1", "6"), {"metadata": {"name": "chat-1"}, "x": 1})
    assert sorted(p["metadata"]["name"] for p in cache.pods(owner)) == ["chat-1", "chat-2"]
    assert cache.count("Pod") == 2
    cache.remove_pod(owner, "p1")
    cache.remove_pod(owner, "p2")
    cache.remove_pod(owner, "unknown")
    assert cache.pods(owner) == []
    assert cache.count("Pod") == 0


def test_startup_sync_completes_when_every_listed_object_is_heard_of() -> None:
    sync = StartupSync(stall_seconds=10)
    assert not sync.complete  # not listed yet
    sync.heard(("Deployment", "ns", "a"), "ua")  # a watch event before the listing
    sync.expect(
        [
            (("Deployment", "ns", "a"), "ua"),
            (("Service", "ns", "a"), "us"),
            (("Pod", "ns", "p"), "up"),
        ]
    )
    assert sorted(oid[0] for oid, _ in sync.missing()) == ["Pod", "Service"]
    sync.heard(("Service", "ns", "a"), "another-uid")  # a namesake is not the listed object
    assert not sync.complete
    sync.heard(("Service", "ns", "a"), "us")
    sync.gone(("Pod", "ns", "p"), "up")  # still there, with the same uid: keep waiting
    assert not sync.complete
    sync.gone(("Pod", "ns", "p"), None)  # deleted since the listing
    assert sync.complete


def test_startup_sync_stalls_only_without_progress() -> None:
    sync = StartupSync(stall_seconds=2)
    sync.expect([(("Pod", "ns", "p"), "u"), (("Pod", "ns", "q"), "v")])
    import time

    now = time.monotonic()
    assert not sync.stalled(now)
    assert sync.stalled(now + 3)
    sync.heard(("Pod", "ns", "p"), "u")
    assert not sync.stalled(time.monotonic() + 1)


class ListingKube(Kube):
    """Answers the start-up listing and the follow-up reads from a fixed world."""

    def __init__(self, listed: dict[str, list[tuple[str, str, str]]], live: set[str]) -> None:
        self.listed = listed
        self.live = live  # uids that still exist
        self.gets: list[str] = []
        self.lists: list[tuple[str, str | None, str | None]] = []
        self.expired_once = {"Service"}  # the first listing of these gets a 410

    async def list_pages(
        self, ck: Kind, namespace: str | None, selector: str | None, page: int = 100
    ) -> AsyncIterator[list[dict[str, Any]]]:
        self.lists.append((ck.kind, namespace, selector))
        if ck.kind == "PersistentVolumeClaim":
            raise kopf.PermanentError("list persistentvolumeclaims: HTTP 403 Forbidden")
        items = [
            {**obj(name, uid, "1"), "kind": ck.kind}
            for _, name, uid in self.listed.get(ck.kind, [])
        ]
        yield items[:1]
        if ck.kind in self.expired_once:
            self.expired_once.discard(ck.kind)
            gone = ApiException(status=410, reason="Gone")  # as Kube maps it: with its cause
            raise kopf.PermanentError("list services: HTTP 410 Gone") from gone
        yield items[1:]

    async def get(self, ck: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        self.gets.append(f"{ck.kind} {name}")
        for _, listed_name, uid in self.listed.get(ck.kind, []):
            if listed_name == name and uid in self.live:
                return obj(name, uid, "1")
        return None

    def close(self) -> None:
        pass


async def test_no_reconcile_before_the_watches_report_what_was_listed() -> None:
    kube = ListingKube(
        {
            "LLMService": [("ns", "chat", "s1")],
            "Deployment": [("ns", "chat", "d1"), ("ns", "gone", "d2")],
            "Service": [("ns", "chat", "v1")],
        },
        live={"s1", "d1", "v1"},  # d2 was deleted after the listing: no event will come
    )
    ctl = Controller(kube, debounce=0, status_interval=0)
    ctl.startup.sync = StartupSync(stall_seconds=0.05)
    await ctl.start(["ns"])
    assert ("Pod", "ns", naming.SERVICE_LABEL) in kube.lists  # the pods, by label
    # the forbidden claims were tried (4 times), the expired Service listing listed again
    assert [k for k, _, _ in kube.lists].count("PersistentVolumeClaim") == 1
    assert [k for k, _, _ in kube.lists].count("Service") == 2
    # the LLMServices are cached from the listing, before any watch event
    assert ("LLMService", ("ns", "chat")) in ctl.cache
    ctl.on_event("LLMService", None, {**obj("chat", "s1", "3"), "spec": {}})
    await asyncio.sleep(0.6)
    assert not ctl.startup.synced.is_set()  # the Deployment and Service "chat" are not reported yet
    assert "Deployment chat" in kube.gets  # asked about, since nothing came for a while
    ctl.on_event("Deployment", None, obj("chat", "d1", "4"))
    ctl.on_event("Service", None, obj("chat", "v1", "5"))
    await asyncio.wait_for(ctl.startup.synced.wait(), 5)
    assert "Deployment gone" in kube.gets
    await ctl.close()


def test_the_handlers_and_selectors_are_made_from_the_one_list_of_watches() -> None:
    from llmservice_operator.runtime.main import kopf_settings
    from llmservice_operator.runtime.settings import load

    registry = kopf.get_default_registry()
    watched = set()
    for handler in registry._watching.get_all_handlers():
        assert handler.selector is not None
        assert not handler.labels  # selection is the API server's (pods) or none
        watched.add(handler.selector.any_name)
    assert watched == {watch.kind.plural for watch in WATCHED}
    server_side = dict(kopf_settings(load({})).watching.label_selectors.items())
    assert list(server_side.values()) == [naming.SERVICE_LABEL]
    (selector,) = server_side
    assert selector.any_name == "pods"
    assert {w.kind: w.selector for w in WATCHED}[POD] == naming.SERVICE_LABEL


@pytest.mark.parametrize("namespace", ["ns", None])
def test_collection_paths(namespace: str | None) -> None:
    from llmservice_operator.runtime.kube import DEPLOYMENT, POD

    expected = (
        "/apis/apps/v1/namespaces/ns/deployments" if namespace else "/apis/apps/v1/deployments"
    )
    assert DEPLOYMENT.collection(namespace) == expected
    assert POD.collection(namespace).endswith("/pods")


async def test_the_sync_survives_failing_checks_and_gives_up_after_its_timeout(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from llmservice_operator.runtime import startup as startup_mod

    class Failing(ListingKube):
        async def get(self, ck: Kind, namespace: str, name: str) -> dict[str, Any] | None:
            self.gets.append(name)
            raise ValueError("not what the API server should answer")

    monkeypatch.setattr(startup_mod, "SYNC_TIMEOUT", 0.5)
    kube = Failing({"Deployment": [("ns", "gone", "d2")]}, live=set())
    ctl = Controller(kube, debounce=0, status_interval=0)
    ctl.startup.sync = StartupSync(stall_seconds=0.01)
    await ctl.start(["ns"])
    await asyncio.wait_for(ctl.startup.synced.wait(), 5)
    assert len(kube.gets) >= 2  # the failed check was logged, then tried again
    assert "checking objects missing since start-up failed" in caplog.text
    assert "reconciling anyway" in caplog.text
    await ctl.close()


async def test_an_llmservice_deleted_after_the_listing_leaves_the_cache() -> None:
    kube = ListingKube({"LLMService": [("ns", "old", "s0")]}, live=set())
    ctl = Controller(kube, debounce=0, status_interval=0)
    ctl.startup.sync = StartupSync(stall_seconds=0.05)
    await ctl.start(["ns"])
    assert ("LLMService", ("ns", "old")) in ctl.cache
    await asyncio.wait_for(ctl.startup.synced.wait(), 5)
    assert ("LLMService", ("ns", "old")) not in ctl.cache
    await ctl.close()
