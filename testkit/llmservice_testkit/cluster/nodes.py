"""Simulated nodes: the kubelet's part of the API, and nothing of its work.

For each node the agent registers a Node (Ready, with the capacity it is given), renews
the node's Lease every few seconds (the node lifecycle controller's heartbeat), watches
the pods the real scheduler binds to it and reports them as a kubelet would
(:mod:`podstatus`): Running at once, Ready after a delay, or failing as their fault
annotation says. It finishes the deletion of pods being deleted (a kubelet's job: the
API server waits for it) and reports nothing else.

Each node speaks as itself (``system:node:NAME``), so the Node authorizer and
NodeRestriction admission check it as they check a kubelet. The agent runs on its own
event loop in a background thread, like the local API server of the test kit.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import ssl
import threading
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from llmservice_testkit.cluster import podstatus

log = logging.getLogger(__name__)
LEASE_SECONDS = 40
RENEW_EVERY = 10.0
KUBELET_VERSION = "v1.37.2"
MAX_SAME_REPORTS = 5
Obj = dict[str, Any]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class NodeShape:
    """What each node offers the scheduler."""

    cpu: str = "16"
    memory: str = "64Gi"
    pods: int = 110
    ephemeral_storage: str = "200Gi"


@dataclass
class _PodState:
    started_at: str
    seen: float
    ip: str
    restarts: int = 0
    timer: asyncio.Task[None] | None = None
    finishing: bool = False
    # Reports sent, by summary: a report the API server never reflects back is not sent
    # for ever (a guard against a loop between a report and its own echo).
    sent: dict[tuple[Any, ...], int] = field(default_factory=dict)


@dataclass
class _Node:
    name: str
    token: str
    index: int
    pods: dict[str, _PodState] = field(default_factory=dict)
    next_ip: int = 2

    @property
    def host_ip(self) -> str:
        # Addresses in the documentation range: nothing is ever sent to them.
        return f"192.0.2.{self.index + 1}"

    def pod_ip(self) -> str:
        base = ipaddress.ip_address("10.244.0.0") + (self.index << 16)
        self.next_ip += 1
        return str(base + self.next_ip)


class NodeAgent:
    """``with NodeAgent(url, ca, {"node-0": token}) as agent:`` — nodes live while it runs."""

    def __init__(
        self,
        url: str,
        ca_file: str,
        tokens: dict[str, str],
        *,
        shape: NodeShape | None = None,
        ready_delay: float = 1.0,
        concurrency: int = 16,
    ) -> None:
        self.url = url
        self.ca_file = ca_file
        self.shape = shape or NodeShape()
        self.ready_delay = ready_delay
        self.concurrency = concurrency
        self.nodes = [
            _Node(name, token, i) for i, (name, token) in enumerate(sorted(tokens.items()))
        ]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self.reports = 0  # status writes made, for benchmarks

    # -- thread lifecycle -----------------------------------------------------------------

    def start(self) -> NodeAgent:
        self._thread = threading.Thread(target=self._run, name="node-agent", daemon=True)
        self._thread.start()
        self._started.wait(60)
        if self._error is not None:
            raise RuntimeError(f"the node agent failed to start: {self._error}") from self._error
        if not self._started.is_set():
            raise RuntimeError("the node agent did not register its nodes within 60 s")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(15)

    def __enter__(self) -> NodeAgent:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:
            self._error = exc
            self._started.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        context = ssl.create_default_context(cafile=self.ca_file)
        limits = httpx.Limits(max_connections=self.concurrency * 2 + 2 * len(self.nodes))
        async with httpx.AsyncClient(
            base_url=self.url, verify=context, limits=limits, timeout=httpx.Timeout(30, read=None)
        ) as client:
            self._client = client
            self._writes = asyncio.Semaphore(self.concurrency)
            for node in self.nodes:
                await self._register(node)
            tasks = [asyncio.create_task(self._heartbeat(n)) for n in self.nodes]
            tasks += [asyncio.create_task(self._watch_pods(n)) for n in self.nodes]
            self._started.set()
            await self._stop.wait()
            for task in tasks:
                task.cancel()
            for node in self.nodes:
                for state in node.pods.values():
                    if state.timer:
                        state.timer.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- requests ------------------------------------------------------------------------

    def _headers(self, node: _Node) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {node.token}",
            "User-Agent": f"testkit-kubelet/{node.name}",
        }

    async def _request(self, node: _Node, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A pod's request: at most ``concurrency`` of them at once."""
        async with self._writes:
            return await self._send(node, method, path, **kwargs)

    async def _send(self, node: _Node, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request without waiting for a turn: the Lease and the Node's heartbeat must not
        queue behind thousands of pod reports, or the node lifecycle controller declares
        the node lost and marks every pod on it not ready (seen at 2,000 pods)."""
        headers = {**self._headers(node), **kwargs.pop("headers", {})}
        return await self._client.request(method, path, headers=headers, **kwargs)

    # -- the Node and its Lease ----------------------------------------------------------

    async def _register(self, node: _Node) -> None:
        shape = self.shape
        resources = {
            "cpu": shape.cpu,
            "memory": shape.memory,
            "pods": str(shape.pods),
            "ephemeral-storage": shape.ephemeral_storage,
        }
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": node.name,
                "labels": {
                    "kubernetes.io/hostname": node.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "testkit-simulated",
                },
            },
        }
        answer = await self._request(node, "POST", "/api/v1/nodes", json=body)
        if answer.status_code not in (201, 409):
            raise RuntimeError(f"node {node.name}: {answer.status_code} {answer.text[:300]}")
        status = {
            "capacity": resources,
            "allocatable": resources,
            "addresses": [
                {"type": "InternalIP", "address": node.host_ip},
                {"type": "Hostname", "address": node.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": node.name,
                "containerRuntimeVersion": "testkit://1.0",
                "kernelVersion": "simulated",
                "kubeProxyVersion": "",
                "kubeletVersion": KUBELET_VERSION,
                "machineID": node.name,
                "operatingSystem": "linux",
                "osImage": "simulated node (llmservice test kit)",
                "systemUUID": node.name,
            },
            "conditions": self._conditions(),
        }
        answer = await self._request(
            node,
            "PATCH",
            f"/api/v1/nodes/{node.name}/status",
            content=json.dumps({"status": status}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        answer.raise_for_status()

    def _conditions(self) -> list[Obj]:
        at = now()
        healthy = [
            ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID"),
            ("Ready", "True", "KubeletReady"),
        ]
        return [
            {
                "type": t,
                "status": s,
                "reason": r,
                "message": "simulated",
                "lastHeartbeatTime": at,
                "lastTransitionTime": at,
            }
            for t, s, r in healthy
        ]

    async def _heartbeat(self, node: _Node) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node.name}"
        beats = 0
        while True:
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": node.name, "namespace": "kube-node-lease"},
                "spec": {
                    "holderIdentity": node.name,
                    "leaseDurationSeconds": LEASE_SECONDS,
                    "renewTime": now_micro(),
                },
            }
            with contextlib.suppress(httpx.HTTPError):
                answer = await self._send(node, "PUT", path, json=lease)
                if answer.status_code == 404:
                    await self._send(
                        node,
                        "POST",
                        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                        json=lease,
                    )
                beats += 1
                if beats % 6 == 0:  # the Ready condition's own heartbeat, once a minute
                    await self._send(
                        node,
                        "PATCH",
                        f"/api/v1/nodes/{node.name}/status",
                        content=json.dumps({"status": {"conditions": self._conditions()}}),
                        headers={"Content-Type": "application/merge-patch+json"},
                    )
            await asyncio.sleep(RENEW_EVERY)

    # -- pods --------------------------------------------------------------------------

    async def _watch_pods(self, node: _Node) -> None:
        selector = quote(f"spec.nodeName={node.name}")
        while True:
            try:
                listed = await self._request(node, "GET", f"/api/v1/pods?fieldSelector={selector}")
                listed.raise_for_status()
                data = listed.json()
                for pod in data.get("items") or ():
                    self._seen(node, pod)
                version = data["metadata"]["resourceVersion"]
                async for kind, pod in self._events(node, selector, version):
                    if kind == "DELETED":
                        self._forget(node, pod)
                    elif kind in ("ADDED", "MODIFIED"):
                        self._seen(node, pod)
            except asyncio.CancelledError:
                raise
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                log.debug("node %s: pod watch ended (%s); listing again", node.name, exc)
                await asyncio.sleep(0.5)

    async def _events(
        self, node: _Node, selector: str, version: str
    ) -> AsyncIterator[tuple[str, Obj]]:
        while True:
            path = (
                f"/api/v1/pods?watch=1&fieldSelector={selector}&resourceVersion={version}"
                "&allowWatchBookmarks=true&timeoutSeconds=300"
            )
            async with self._client.stream("GET", path, headers=self._headers(node)) as answer:
                answer.raise_for_status()
                async for line in answer.aiter_lines():
                    if not line:
                        continue
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        raise ValueError(f"watch error: {obj.get('message')}")
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    if event.get("type") != "BOOKMARK":
                        yield str(event.get("type")), obj

    def _seen(self, node: _Node, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        uid = str(meta.get("uid"))
        state = node.pods.get(uid)
        if state is None:
            loop = asyncio.get_running_loop()
            ip = podstatus.pod_ip(pod) or node.pod_ip()
            state = _PodState(started_at=now(), seen=loop.time(), ip=ip)
            node.pods[uid] = state
        if meta.get("deletionTimestamp"):
            if not state.finishing:
                state.finishing = True
                self._spawn(self._finish_deletion(node, pod))
            return
        self._spawn(self._report(node, pod, state))

    def _forget(self, node: _Node, pod: Obj) -> None:
        state = node.pods.pop(str((pod.get("metadata") or {}).get("uid")), None)
        if state and state.timer:
            state.timer.cancel()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        task.add_done_callback(_log_failure)

    async def _report(self, node: _Node, pod: Obj, state: _PodState) -> None:
        loop = asyncio.get_running_loop()
        delay = podstatus.ready_delay(pod, self.ready_delay)
        waited = loop.time() - state.seen
        try:
            fault = podstatus.fault_of(pod)
        except ValueError as exc:
            log.warning("pod %s: %s", pod["metadata"]["name"], exc)
            fault = None
        if fault and fault.kind != "NotReady":
            state.restarts = max(state.restarts, 3)
        status = podstatus.pod_status(
            pod,
            host_ip=node.host_ip,
            pod_ip=state.ip,
            started_at=state.started_at,
            now=now(),
            ready=waited >= delay,
            restarts=state.restarts,
        )
        if waited < delay and (state.timer is None or state.timer.done()):
            state.timer = asyncio.create_task(self._later(delay - waited, node, pod, state))
        summary = podstatus.summary(status)
        # What the API server holds, not what was last sent: another writer (the node
        # lifecycle controller after missed heartbeats) may have changed it since.
        if summary == podstatus.summary(pod.get("status") or {}) or state.finishing:
            return
        if state.sent.get(summary, 0) >= MAX_SAME_REPORTS:
            log.warning("pod %s: its status does not take the report", pod["metadata"]["name"])
            return
        state.sent[summary] = state.sent.get(summary, 0) + 1
        meta = pod["metadata"]
        answer = await self._request(
            node,
            "PATCH",
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
            content=json.dumps({"metadata": {"uid": meta["uid"]}, "status": status}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        if answer.status_code == 200:
            self.reports += 1
        elif answer.status_code not in (404, 409):
            log.warning("pod %s status: %s %s", meta["name"], answer.status_code, answer.text[:200])

    async def _later(self, delay: float, node: _Node, pod: Obj, state: _PodState) -> None:
        await asyncio.sleep(delay)
        uid = pod["metadata"]["uid"]
        if node.pods.get(uid) is state and not state.finishing:
            fresh = await self._request(
                node,
                "GET",
                f"/api/v1/namespaces/{pod['metadata']['namespace']}/pods/{pod['metadata']['name']}",
            )
            if fresh.status_code == 200:
                await self._report(node, fresh.json(), state)

    async def _finish_deletion(self, node: _Node, pod: Obj) -> None:
        """The containers are gone at once: confirm the deletion with a zero grace period."""
        meta = pod["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": meta["uid"]},
        }
        answer = await self._request(
            node,
            "DELETE",
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
            content=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        if answer.status_code not in (200, 202, 404, 409):
            log.warning("pod %s delete: %s %s", meta["name"], answer.status_code, answer.text[:200])


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("node agent task failed: %r", task.exception())
