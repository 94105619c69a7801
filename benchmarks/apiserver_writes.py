"""Throughput of the local API server for the operator benchmark's write mix.

``benchmarks/operator_scale.py`` spends most of its time waiting for the local API server,
so this measures the server alone, with a plain HTTP client and the same kinds of request:

1. ``--count`` LLMServices created at once (8 client threads): the CRD's structural schema
   and CEL rules run on each;
2. for each of them the writes the operator and the fake kube-controller-manager make:
   server-side applies of the Deployment, Service and HPA (field manager
   ``llmservice-operator``), two LLMService status merge patches, an event POST, two pod
   POSTs and their status patches, the Deployment and HPA status patches (12 writes);

while ``--watchers`` watch streams per resource type (as the operator and the controllers
keep them) read every event. The server runs in a process of its own so that the client
does not compete with it for the interpreter lock.

``--compare`` runs everything twice, with the CEL rule memo off and on, and prints the two
side by side with their ratio; ``--before REV`` compares the server of an older commit
(its ``operator/`` and ``testkit/`` folders, taken with ``git archive``) with the working
tree's instead.
``--profile FILE`` writes a cProfile of the server's thread.

Run: ``.venv/bin/python benchmarks/apiserver_writes.py [--count 300] [--compare | --before REV]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
CRD = ROOT / "crds" / "llmservices.llmservice.dev.yaml"
LLMS = "/apis/llmservice.dev/v1alpha1"
NS = "bench"
MERGE = {"Content-Type": "application/merge-patch+json"}
APPLY = {"Content-Type": "application/apply-patch+yaml"}
WATCHED = (
    f"{LLMS}/namespaces/{NS}/llmservices",
    f"/apis/apps/v1/namespaces/{NS}/deployments",
    f"/api/v1/namespaces/{NS}/services",
    f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers",
    f"/api/v1/namespaces/{NS}/pods",
    f"/api/v1/namespaces/{NS}/events",
)
PATHS = {
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments/{name}",
    "Service": "/api/v1/namespaces/{ns}/services/{name}",
    "HorizontalPodAutoscaler": (
        "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/{name}"
    ),
}
NOW = "2026-01-01T00:00:00Z"


def serve(url_file: str, cel_memo: bool, profile: str | None) -> int:
    """Internal: host a server in this process until stdin closes."""
    import cProfile

    celrules, ServerThread = _server_modules()
    if not cel_memo:
        celrules.set_memo_size(0)
    profiler = cProfile.Profile()
    with ServerThread() as server:
        if profile:
            server.call(lambda api: profiler.enable())  # profiles the server's own thread
        Path(url_file).write_text(server.url)
        sys.stdin.read()
        if profile:
            server.call(lambda api: profiler.disable())
            profiler.dump_stats(profile)
    return 0


def _server_modules() -> tuple[Any, Any]:
    """The CEL engine and the server host of the tree on the path: the working tree's, or
    with ``--before`` an older commit's, which may predate the layers as folders and the
    test kit as a distribution of its own (the operator's module is imported first, so an
    old tree never pairs with the installed test kit)."""
    try:
        from llmservice_operator.tools.render import cel
        from llmservice_testkit.emulator.thread import ServerThread
    except ImportError:
        from llmservice_operator import celrules as cel
        from llmservice_operator.testing.runner import ServerThread
    return cel, ServerThread


class Client:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(
            base_url=url,
            headers={"User-Agent": "apiserver-writes-benchmark/1"},
            timeout=120,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )

    def send(self, method: str, path: str, body: Any, **kwargs: Any) -> None:
        response = self.http.request(method, path, content=json.dumps(body), **kwargs)
        if not response.is_success:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code} {response.text}")


def _watch(url: str, path: str, stop: threading.Event, seen: list[int]) -> None:
    with (
        httpx.Client(base_url=url, timeout=None) as http,
        http.stream("GET", path, params={"watch": "true"}) as response,
    ):
        for line in response.iter_lines():
            if line:
                seen[0] += 1
            if stop.is_set():
                return


def _writes(client: Client, i: int) -> list[Callable[[], None]]:
    """The 12 writes the operator and the controllers make for LLMService ``svc-i``."""
    # Imported here: the server process (``--serve``) may run an older commit's tree.
    from llmservice_operator.api.models import LLMService
    from llmservice_operator.builders import build_children

    name = f"svc-{i:04d}"
    service = LLMService.model_validate({"metadata": {"name": name, "namespace": NS}})
    children = {m["kind"]: m for m in build_children(service)}
    llms = f"{LLMS}/namespaces/{NS}/llmservices/{name}"
    pods = f"/api/v1/namespaces/{NS}/pods"
    apply_params = {"fieldManager": "llmservice-operator", "force": "true"}

    def apply(kind: str) -> Callable[[], None]:
        path = PATHS[kind].format(ns=NS, name=name)
        return lambda: client.send(
            "PATCH", path, children[kind], params=apply_params, headers=APPLY
        )

    def status(body: dict[str, Any], path: str = llms) -> Callable[[], None]:
        return lambda: client.send("PATCH", f"{path}/status", {"status": body}, headers=MERGE)

    def pod(n: int) -> Callable[[], None]:
        return lambda: client.send(
            "POST",
            pods,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"{name}-{n}", "labels": {"app": name}},
                "spec": {"containers": [{"name": "backend", "image": "backend:1"}]},
            },
        )

    ready_pod = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": NOW}],
    }
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{name}."},
        "involvedObject": {"kind": "LLMService", "name": name, "namespace": NS},
        "reason": "Created",
        "message": "created children",
        "type": "Normal",
    }
    return [
        apply("Deployment"),
        apply("Service"),
        apply("HorizontalPodAutoscaler"),
        lambda: client.send("POST", f"/api/v1/namespaces/{NS}/events", event),
        status({"phase": "Pending", "ready": "0/2", "observedGeneration": 1}),
        pod(0),
        pod(1),
        status(ready_pod, f"{pods}/{name}-0"),
        status(ready_pod, f"{pods}/{name}-1"),
        status(
            {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "availableReplicas": 2},
            PATHS["Deployment"].format(ns=NS, name=name),
        ),
        status(
            {"currentReplicas": 2, "desiredReplicas": 2},
            PATHS["HorizontalPodAutoscaler"].format(ns=NS, name=name),
        ),
        status({"phase": "Ready", "ready": "2/2", "observedGeneration": 1}),
    ]


def run(
    count: int,
    workers: int,
    watchers: int,
    cel_memo: bool,
    profile: str | None,
    source: Path | None = None,
) -> dict[str, Any]:
    """One measurement against a fresh server (from ``source``/operator when given)."""
    with tempfile.TemporaryDirectory() as tmp:
        url_file = Path(tmp) / "url"
        args = [sys.executable, __file__, "--serve", str(url_file)]
        args += [] if cel_memo else ["--no-cel-memo"]
        args += ["--profile", profile] if profile else []
        env = dict(os.environ)
        if source is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                [str(source / "operator"), str(source / "testkit"), env.get("PYTHONPATH", "")]
            )
        server = subprocess.Popen(args, stdin=subprocess.PIPE, env=env)
        try:
            deadline = time.monotonic() + 60
            while not (url_file.exists() and url_file.read_text()):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start")
                time.sleep(0.05)
            figures = _measure(url_file.read_text(), count, workers, watchers)
            figures["server_peak_rss_mb"] = _peak_rss_mb(server.pid)
            return figures
        finally:
            assert server.stdin is not None
            server.stdin.close()
            server.wait(120)


def _measure(url: str, count: int, workers: int, watchers: int) -> dict[str, Any]:
    client = Client(url)
    client.send(
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        yaml.safe_load(CRD.read_text()),
    )
    client.send("POST", "/api/v1/namespaces", {"metadata": {"name": NS}})
    stop = threading.Event()
    seen = [0]
    threads = [
        threading.Thread(target=_watch, args=(url, path, stop, seen), daemon=True)
        for path in WATCHED
        for _ in range(watchers)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.5)

    def create(i: int) -> None:
        client.send(
            "POST",
            f"{LLMS}/namespaces/{NS}/llmservices",
            {
                "apiVersion": "llmservice.dev/v1alpha1",
                "kind": "LLMService",
                "metadata": {"name": f"svc-{i:04d}"},
            },
        )

    start = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(create, range(count)))
    create_seconds = time.monotonic() - start

    # Interleaved as in the operator run: every LLMService's first write, then every second...
    per_service = [_writes(client, i) for i in range(count)]
    jobs = [job for step in zip(*per_service, strict=True) for job in step]
    start = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda job: job(), jobs))
    write_seconds = time.monotonic() - start
    stop.set()
    client.http.close()
    return {
        "creates": count,
        "create_seconds": round(create_seconds, 2),
        "creates_per_second": round(count / create_seconds, 1),
        "writes": len(jobs),
        "write_seconds": round(write_seconds, 2),
        "writes_per_second": round(len(jobs) / write_seconds, 1),
        "watch_events_read": seen[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300, help="LLMServices")
    parser.add_argument("--workers", type=int, default=8, help="client threads")
    parser.add_argument("--watchers", type=int, default=2, help="watch streams per resource type")
    parser.add_argument("--compare", action="store_true", help="CEL memo off, then on")
    parser.add_argument("--before", metavar="REV", help="compare with the server of commit REV")
    parser.add_argument("--no-cel-memo", action="store_true", help="turn the CEL rule memo off")
    parser.add_argument("--profile", help="write a cProfile of the server thread here")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, not args.no_cel_memo, args.profile)

    if not (args.compare or args.before):
        figures = run(args.count, args.workers, args.watchers, not args.no_cel_memo, args.profile)
        print(json.dumps(figures, indent=2))
        return 0
    if args.before:
        with tempfile.TemporaryDirectory() as tmp:
            tree = _checkout(args.before, Path(tmp))
            first = run(args.count, args.workers, args.watchers, True, None, tree)
        labels = (f"server at {args.before}", "working tree")
    else:
        first = run(args.count, args.workers, args.watchers, False, None)
        labels = ("CEL memo off", "CEL memo on")
    second = run(args.count, args.workers, args.watchers, True, None)
    print(json.dumps({labels[0]: first, labels[1]: second}, indent=2))
    print()
    print(f"| figure | {labels[0]} | {labels[1]} | ratio |")
    print("|---|---|---|---|")
    keys = ("create_seconds", "creates_per_second", "write_seconds", "writes_per_second")
    for key in (*keys, "server_peak_rss_mb"):
        ratio = second[key] / first[key] if first[key] else float("nan")
        print(f"| {key} | {first[key]} | {second[key]} | {ratio:.2f} |")
    return 0


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _checkout(rev: str, into: Path) -> Path:
    """The ``operator/`` and (where it has one) ``testkit/`` folders of commit ``rev``,
    extracted under ``into``."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "--name-only", rev, "operator", "testkit"],
        capture_output=True,
        check=True,
        text=True,
    )
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, *listed.stdout.split()],
        capture_output=True,
        check=True,
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


if __name__ == "__main__":
    raise SystemExit(main())
