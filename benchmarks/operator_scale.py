"""The operator at scale on the local API server: N LLMServices created at once.

Measures, on this machine:

- the time until every LLMService reports Ready (the benchmark plays kube-controller-manager
  and the kubelets: for each Deployment it creates the pods, marks them ready and writes
  the Deployment and HPA status, as the real controllers would);
- the operator's mutating API requests per LLMService on the way (counted at the server by
  user agent: the operator's client and kopf's);
- its mutating requests during an idle period afterwards, and after a restart;
- its peak RSS (VmHWM of the operator process);
- side by side, the time a plain client takes for the same number of raw writes (the same
  kinds of request, same concurrency as the operator's API thread pool), and the ratio.

Run: ``.venv/bin/python benchmarks/operator_scale.py [--count 1000] [--idle 60]``.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml
from llmservice_operator.api import naming
from llmservice_operator.api.models import LLMService
from llmservice_operator.builders import build_children
from llmservice_operator.runtime.kube import CHILD_KINDS, USER_AGENT
from llmservice_testkit.emulator.thread import ServerThread

ROOT = Path(__file__).resolve().parents[1]
CRD = ROOT / "crds" / "llmservices.llmservice.dev.yaml"
LLMS = "/apis/llmservice.dev/v1alpha1"
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
RUN = "from llmservice_operator.runtime.main import main; raise SystemExit(main())"
# The same under cProfile (main thread: kopf's event loop and our handlers), for
# ``--profile-operator``; the profile is written when the operator stops.
PROFILED_RUN = (
    "import cProfile, os\n"
    "from llmservice_operator.runtime.main import main\n"
    "profile = cProfile.Profile()\n"
    "code = profile.runcall(main)\n"
    "profile.dump_stats(os.environ['BENCH_PROFILE'])\n"
    "raise SystemExit(code)\n"
)
BENCH_AGENT = "operator-scale-benchmark/1"
MERGE = {"Content-Type": "application/merge-patch+json"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# Set by the real-control-plane run (``--real``, operator_scale_real.py): every client of
# the benchmark then authenticates (bearer token) and checks the server's certificate.
AUTH: dict[str, Any] = {}


class Api:
    """A plain HTTP client for the benchmark's own requests (not the operator's)."""

    def __init__(self, url: str, agent: str = BENCH_AGENT) -> None:
        self.http = httpx.Client(
            base_url=url,
            headers={"User-Agent": agent, **AUTH.get("headers", {})},
            verify=AUTH.get("verify", True),
            timeout=120,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )

    def ok(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if not response.is_success:
            raise RuntimeError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
        data = response.json()
        return data if isinstance(data, dict) else {}

    def post(self, path: str, body: Any) -> dict[str, Any]:
        return self.ok(self.http.post(path, json=body), f"POST {path}")

    def patch(self, path: str, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
        return self.ok(
            self.http.patch(path, content=json.dumps(body), headers=headers or MERGE),
            f"PATCH {path}",
        )

    def get(self, path: str, **params: str) -> dict[str, Any]:
        return self.ok(self.http.get(path, params=params), f"GET {path}")


def writes_by(server: ServerThread, since: int, agents: tuple[str, ...]) -> list[tuple[str, str]]:
    def collect(api: Any) -> list[tuple[str, str]]:
        out = []
        for i, request in enumerate(list(api)):
            if i < since or not hasattr(request, "method"):
                continue
            method = str(request.method).upper().rsplit(".", 1)[-1]
            agent = str((request.headers or {}).get("User-Agent", ""))
            if method in MUTATING and agent.startswith(agents):
                out.append((method, str(request.url.path)))
        return out

    return list(server.call(collect))


def request_count(server: ServerThread) -> int:
    return int(server.call(lambda api: sum(1 for r in api if hasattr(r, "method"))))


def operator_writes(server: ServerThread, since: int) -> list[tuple[str, str]]:
    return writes_by(server, since, (USER_AGENT.split("/")[0], "kopf"))


def classify(write: tuple[str, str]) -> str:
    method, path = write
    if path.endswith("/status"):
        return "status patch"
    if "/events" in path:
        return "event"
    if method == "PATCH":
        return "apply " + path.split("/")[-2]
    return f"{method} {path.split('/')[-2] if method != 'POST' else path.split('/')[-1]}"


class OperatorProcess:
    def __init__(
        self, kubeconfig: Path, namespace: str, workdir: Path, profile_dir: Path | None = None
    ) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.workdir = workdir
        self.profile_dir = profile_dir
        self.runs = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.health_port = 0
        self.metrics_port = 0

    def start(self) -> None:
        import socket

        ports = []
        for _ in range(2):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                ports.append(s.getsockname()[1])
        self.health_port, self.metrics_port = ports
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "LLMSERVICE_NAMESPACES": self.namespace,
            "LLMSERVICE_HEALTH_HOST": "127.0.0.1",
            "LLMSERVICE_HEALTH_PORT": str(self.health_port),
            "LLMSERVICE_METRICS_PORT": str(self.metrics_port),
            "LLMSERVICE_LOG_LEVEL": "WARNING",
            "MALLOC_ARENA_MAX": "2",  # as the operator image sets it (Dockerfile)
        }
        self.runs += 1
        code = RUN
        if self.profile_dir is not None:
            env["BENCH_PROFILE"] = str(self.profile_dir / f"operator-run{self.runs}.prof")
            code = PROFILED_RUN
        out = (self.workdir / "operator.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=out, stderr=out
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the operator exited; see operator.log")
            try:
                if httpx.get(f"http://127.0.0.1:{self.health_port}/healthz").is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the operator did not become healthy in 60 s")

    def _status_mb(self, field: str) -> float:
        """A memory figure of the operator process from /proc, in MB."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def peak_rss_mb(self) -> float:
        return self._status_mb("VmHWM")

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time of the operator's threads so far, by thread name (the event loop runs
        in the main thread; ``kube-api`` threads make the API requests)."""
        assert self.process is not None
        ticks = os.sysconf("SC_CLK_TCK")
        by_name: dict[str, float] = {}
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            seconds = (int(fields[11]) + int(fields[12])) / ticks
            group = "main" if task.name == str(self.process.pid) else name.split("_")[0]
            by_name[group] = round(by_name.get(group, 0.0) + seconds, 1)
        return by_name

    def rss_mb(self) -> float:
        return self._status_mb("VmRSS")

    def reconciles(self) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics").text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("llmservice_reconciles_total{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


def watch_objects(
    api: Api, path: str, stop: threading.Event, selector: str | None = None
) -> Iterator[dict[str, Any]]:
    """Every object of a collection as it is listed, then added or modified (a list, then
    a watch from its resourceVersion; again from a fresh list when the watch ends)."""
    while not stop.is_set():
        try:
            query = {"labelSelector": selector} if selector else {}
            listed = api.get(path, **query)
            yield from listed.get("items") or ()
            rv = (listed.get("metadata") or {}).get("resourceVersion", "")
            params = {"watch": "true", "resourceVersion": rv, **query}
            with api.http.stream("GET", path, params=params, timeout=None) as response:
                for line in response.iter_lines():
                    if stop.is_set():
                        return
                    if not line:
                        continue
                    event = json.loads(line)
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        yield event["object"]
        except (httpx.HTTPError, RuntimeError, ValueError):
            time.sleep(0.5)


OURS = f"{naming.MANAGED_BY_LABEL}={naming.MANAGED_BY}"


class ReadyCounter:
    """Which LLMServices of a namespace have Ready=True, and since when, from a watch.

    A watch, not a list every fraction of a second: the server shares the benchmark's
    interpreter, and listing a thousand LLMServices over and over took a fifth of its time
    away from the operator it measures."""

    def __init__(self, url: str, namespace: str) -> None:
        self.api = Api(url)
        self.path = f"{LLMS}/namespaces/{namespace}/llmservices"
        self.ready_at: dict[str, float] = {}
        self.first_status_at: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for item in watch_objects(self.api, self.path, self.stop):
            name = item["metadata"]["name"]
            status = item.get("status") or {}
            now = time.monotonic()
            if status.get("conditions"):
                self.first_status_at.setdefault(name, now)
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or ()
            ):
                self.ready_at.setdefault(name, now)

    def count(self) -> int:
        return len(self.ready_at)

    def close(self) -> None:
        self.stop.set()
        self.api.http.close()  # ends the watch's stream


class FakeControllers:
    """kube-controller-manager and the kubelets, for the benchmark namespace: every new
    Deployment gets its pods (created, then marked Ready), its status, and its HPA's."""

    def __init__(self, url: str, namespace: str, pods: int, workers: int) -> None:
        self.api = Api(url)
        self.ns = namespace
        self.pods = pods
        self.pool = ThreadPoolExecutor(workers)
        # The HPA controller is a controller of its own in kube-controller-manager, with
        # its own workers: HPA status writes do not queue behind the pods.
        self.hpa_pool = ThreadPoolExecutor(2)
        self.seen_deployments: set[str] = set()
        self.seen_hpas: set[str] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.errors: list[str] = []

    def _loop(self) -> None:
        threading.Thread(target=self._watch_hpas, daemon=True).start()
        path = f"/apis/apps/v1/namespaces/{self.ns}/deployments"
        for dep in watch_objects(self.api, path, self.stop, OURS):
            name = dep["metadata"]["name"]
            if name not in self.seen_deployments:
                self.seen_deployments.add(name)
                self.pool.submit(self._run_deployment, name, dep["metadata"].get("generation", 1))

    def _watch_hpas(self) -> None:
        path = f"/apis/autoscaling/v2/namespaces/{self.ns}/horizontalpodautoscalers"
        for hpa in watch_objects(self.api, path, self.stop, OURS):
            name = hpa["metadata"]["name"]
            if name not in self.seen_hpas:
                self.seen_hpas.add(name)
                self.hpa_pool.submit(self._run_hpa, name)

    def _run_deployment(self, name: str, generation: int) -> None:
        try:
            base = f"/api/v1/namespaces/{self.ns}/pods"
            for i in range(self.pods):
                pod = f"{name}-{i}"
                self.api.post(
                    base,
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {"name": pod, "labels": naming.common_labels(name)},
                        "spec": {"containers": [{"name": "backend", "image": "backend:1"}]},
                    },
                )
                now = "2026-01-01T00:00:00Z"
                self.api.patch(
                    f"{base}/{pod}/status",
                    {
                        "status": {
                            "phase": "Running",
                            "conditions": [
                                {
                                    "type": "PodScheduled",
                                    "status": "True",
                                    "lastTransitionTime": now,
                                },
                                {"type": "Ready", "status": "True", "lastTransitionTime": now},
                            ],
                            "containerStatuses": [
                                {
                                    "name": "backend",
                                    "image": "backend:1",
                                    "imageID": "",
                                    "ready": True,
                                    "restartCount": 0,
                                    "state": {"running": {"startedAt": now}},
                                }
                            ],
                        }
                    },
                )
            self.api.patch(
                f"/apis/apps/v1/namespaces/{self.ns}/deployments/{name}/status",
                {
                    "status": {
                        "observedGeneration": generation,
                        "replicas": self.pods,
                        "updatedReplicas": self.pods,
                        "readyReplicas": self.pods,
                        "availableReplicas": self.pods,
                    }
                },
            )
        except (httpx.HTTPError, RuntimeError) as exc:
            self.errors.append(str(exc))

    def _run_hpa(self, name: str) -> None:
        try:
            self.api.patch(
                f"/apis/autoscaling/v2/namespaces/{self.ns}/horizontalpodautoscalers/{name}/status",
                {"status": {"currentReplicas": self.pods, "desiredReplicas": self.pods}},
            )
        except (httpx.HTTPError, RuntimeError) as exc:
            self.errors.append(str(exc))

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.pool.shutdown(wait=True)
        self.hpa_pool.shutdown(wait=True)


class PlainClient:
    """A plain client making the operator's kinds of write with no logic in between: apply
    the children of an LLMService (server-side apply), patch its status, post an event.
    Its LLMServices have no operator; the fake controllers may react to its children."""

    def __init__(self, url: str, namespace: str, mix: list[str], workers: int) -> None:
        self.url = url
        self.api = Api(url, agent="plain-client/1")
        self.namespace = namespace
        self.mix = mix or ["Deployment"]
        self.workers = workers
        self.template = LLMService.model_validate(
            {"metadata": {"name": "x", "namespace": namespace}}
        )

    def create(self, i: int) -> None:
        self.api.post(
            f"{LLMS}/namespaces/{self.namespace}/llmservices",
            {
                "apiVersion": "llmservice.dev/v1alpha1",
                "kind": "LLMService",
                "metadata": {"name": f"raw-{i}"},
            },
        )

    def write(self, job: tuple[str, int]) -> None:
        kind, i = job
        name, ns = f"raw-{i}", self.namespace
        if kind == "status":
            self.api.patch(
                f"{LLMS}/namespaces/{ns}/llmservices/{name}/status",
                {"status": {"phase": "Pending", "ready": "0/2", "observedGeneration": 1}},
            )
            return
        if kind == "event":
            self.api.post(
                f"/api/v1/namespaces/{ns}/events",
                {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {"generateName": f"{name}."},
                    "involvedObject": {"kind": "LLMService", "name": name, "namespace": ns},
                    "reason": "Created",
                    "message": "created children",
                    "type": "Normal",
                },
            )
            return
        service = self.template.model_copy(
            update={"metadata": self.template.metadata.model_copy(update={"name": name})}
        )
        manifest = next(m for m in build_children(service) if m["kind"] == kind)
        self.api.ok(
            self.api.http.patch(
                CHILD_KINDS[kind].path(ns, name),
                params={"fieldManager": "plain-client", "force": "true"},
                content=json.dumps(manifest),
                headers={"Content-Type": "application/apply-patch+yaml"},
            ),
            f"apply {kind}",
        )

    def jobs(self, services: int, count: int | None = None) -> list[tuple[str, int]]:
        out = [(kind, i) for i in range(services) for kind in self.mix]
        return out if count is None else out[:count]

    def alone(self, count: int) -> float:
        """``count`` writes on a server doing nothing else (their LLMServices are created
        beforehand, untimed)."""
        services = count // len(self.mix) + 1
        with ThreadPoolExecutor(self.workers) as pool:
            list(pool.map(self.create, range(services)))
        start = time.monotonic()
        with ThreadPoolExecutor(self.workers) as pool:
            list(pool.map(self.write, self.jobs(services, count)))
        return time.monotonic() - start

    def with_controllers(self, services: int, count: int, pods: int = 2) -> float:
        """What the operator's run does, minus the operator: create ``services``
        LLMServices, make the same writes for each (the same mix, as the operator did), and
        wait until the fake controllers have made every Deployment's pods ready."""
        controllers = subprocess.Popen(
            [sys.executable, __file__, "--play-controllers", self.url, self.namespace],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        ready: set[str] = set()
        stop = threading.Event()

        def watch() -> None:
            path = f"/apis/apps/v1/namespaces/{self.namespace}/deployments"
            for dep in watch_objects(Api(self.url), path, stop, OURS):
                if ((dep.get("status") or {}).get("readyReplicas") or 0) >= pods:
                    ready.add(dep["metadata"]["name"])

        threading.Thread(target=watch, daemon=True).start()
        try:
            start = time.monotonic()
            with ThreadPoolExecutor(self.workers) as pool:
                list(pool.map(self.create, range(services)))
                list(pool.map(self.write, self.jobs(services, count)))
            while len(ready) < services and time.monotonic() - start < 600:
                time.sleep(0.05)
            return time.monotonic() - start
        finally:
            stop.set()
            controllers.terminate()
            controllers.wait(30)


def resume(operator: OperatorProcess, args: argparse.Namespace) -> float:
    """Start the operator again; the seconds until it has reconciled every LLMService, after
    which ``args.restart_settle`` more pass before its writes are counted."""
    operator.start()
    started = time.monotonic()
    while operator.reconciles() < args.count and time.monotonic() - started < args.timeout:
        time.sleep(0.5)
    resumed = time.monotonic() - started
    time.sleep(args.restart_settle)
    return resumed


def plain_mix(per_kind: Counter[str], count: int) -> list[str]:
    """The plain client's writes for one LLMService: the operator's kinds of write, each as
    often per LLMService as the operator made it."""
    targets = {
        "apply deployments": "Deployment",
        "apply services": "Service",
        "apply horizontalpodautoscalers": "HorizontalPodAutoscaler",
        "status patch": "status",
        "event": "event",
    }
    mix: list[str] = []
    for kind, n in sorted(per_kind.items()):
        if kind in targets:
            mix.extend([targets[kind]] * max(1, round(n / max(1, count))))
    return mix


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    pick = [("p50", 0.5), ("p90", 0.9), ("max", 1.0)]
    return {k: round(values[min(len(values) - 1, int(q * len(values)))], 2) for k, q in pick}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="LLMServices to create")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idling to watch")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before idling")
    parser.add_argument("--restart-settle", type=float, default=20.0, help="seconds after resume")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on Ready after")
    parser.add_argument("--workers", type=int, default=8, help="operator API threads")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--profile-operator",
        metavar="DIR",
        help="run the operator under cProfile; write operator-run1.prof (first run) and "
        "operator-run2.prof (after the restart) to DIR",
    )
    parser.add_argument(
        "--real",
        action="store_true",
        help="run on the real control plane (Kubernetes built from cluster/, simulated "
        "nodes), then on the emulator, and print both side by side",
    )
    parser.add_argument(
        "--play-controllers",
        nargs=2,
        metavar=("URL", "NAMESPACE"),
        help="internal: only play kube-controller-manager for NAMESPACE at URL, until killed",
    )
    args = parser.parse_args()
    if args.real:
        from operator_scale_real import main_real

        return main_real(args)
    if args.play_controllers:
        url, namespace = args.play_controllers
        stop_signals = {signal.SIGTERM, signal.SIGINT}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # threads inherit the mask
        fake = FakeControllers(url, namespace, pods=2, workers=8)
        fake.start()
        signal.sigwait(stop_signals)
        fake.stop.set()
        if fake.errors:
            print(f"{len(fake.errors)} errors, first: {fake.errors[0]}", flush=True)
        return 0

    with (
        tempfile.TemporaryDirectory() as tmp,
        ServerThread(kubeconfig_path=Path(tmp) / "kc") as server,
    ):
        workdir = Path(tmp)
        # The writes are counted from the server's request log: keep all of this run's.
        server.call(lambda apiserver: setattr(apiserver, "request_log_limit", 10**7))
        api = Api(server.url)
        api.post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            yaml.safe_load(CRD.read_text()),
        )
        for ns in ("bench", "raw"):
            api.post(
                "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if api.http.get(f"{LLMS}/namespaces/bench/llmservices").is_success:
                break
            time.sleep(0.1)

        profile_dir = Path(args.profile_operator).resolve() if args.profile_operator else None
        if profile_dir is not None:
            profile_dir.mkdir(parents=True, exist_ok=True)
        operator = OperatorProcess(workdir / "kc", "bench", workdir, profile_dir)
        atexit.register(operator.stop)  # also when the benchmark fails half-way
        operator.start()
        log(f"operator up; creating {args.count} LLMServices")
        # In a process of its own: in this one it would compete with the API server's
        # thread for the interpreter lock and slow the server for everyone.
        controllers = subprocess.Popen(
            [sys.executable, __file__, "--play-controllers", server.url, "bench"],
            stdout=(workdir / "controllers.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        counter = ReadyCounter(server.url, "bench")
        mark = request_count(server)
        created_at: dict[str, float] = {}

        def create(i: int) -> None:
            name = f"svc-{i:04d}"
            api.post(
                f"{LLMS}/namespaces/bench/llmservices",
                {
                    "apiVersion": "llmservice.dev/v1alpha1",
                    "kind": "LLMService",
                    "metadata": {"name": name},
                },
            )
            created_at[name] = time.monotonic()

        start = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(args.count)))
        created = time.monotonic() - start
        log(f"created in {created:.1f} s; waiting for Ready")
        ready = 0
        while ready < args.count and time.monotonic() - start < args.timeout:
            time.sleep(0.2)
            now_ready = counter.count()
            if now_ready // 100 != ready // 100:
                log(f"  {now_ready}/{args.count} Ready after {time.monotonic() - start:.1f} s")
            ready = now_ready
        to_ready = (
            max(counter.ready_at.values()) if counter.ready_at else time.monotonic()
        ) - start
        latencies = sorted(counter.ready_at[n] - created_at[n] for n in counter.ready_at)
        first_status = sorted(
            counter.first_status_at[n] - created_at[n] for n in counter.first_status_at
        )
        writes = operator_writes(server, mark)
        per_kind = Counter(classify(w) for w in writes)
        status_writes = Counter(
            path.split("/")[-2] for _, path in writes if path.endswith("/status")
        )
        status_spread = Counter(status_writes.values())
        rss_first = operator.peak_rss_mb()
        cpu_first = operator.cpu_seconds()
        log(f"operator CPU seconds by thread: {cpu_first}")
        log(f"all Ready: {ready}/{args.count} in {to_ready:.1f} s; {len(writes)} operator writes")

        time.sleep(args.settle)  # late events (a last HPA status) may still be on their way
        mark = request_count(server)
        time.sleep(args.idle)
        idle_writes = operator_writes(server, mark)
        rss_idle = operator.rss_mb()
        log(f"idle {args.idle:.0f} s: {len(idle_writes)} operator writes")

        operator.stop()
        mark = request_count(server)
        resumed = resume(operator, args)
        restart_writes = operator_writes(server, mark)
        rss_second = operator.peak_rss_mb()
        log(f"restart: resumed in {resumed:.1f} s; {len(restart_writes)} operator writes")
        operator.stop()
        controllers.terminate()
        controllers.wait(30)
        counter.close()

        # The plain client: the same number and mix of writes, same concurrency.
        mix = plain_mix(per_kind, args.count)
        log("the plain client: the same writes on an idle server")
        raw_time = PlainClient(server.url, "raw", mix, args.workers).alone(len(writes))
        log(f"  {raw_time:.1f} s; the same again with the creates and the fake controllers")
        for ns in ("raw-2",):
            api.post(
                "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            )
        like_time = PlainClient(server.url, "raw-2", mix, args.workers).with_controllers(
            args.count, len(writes)
        )
        log(f"  {like_time:.1f} s")

    figures = {
        "llmservices": args.count,
        "ready": ready,
        "seconds_to_all_ready": round(to_ready, 1),
        "operator_writes": len(writes),
        "writes_per_llmservice": round(len(writes) / max(1, args.count), 2),
        "writes_by_kind": dict(per_kind),
        "idle_seconds": args.idle,
        "idle_writes": len(idle_writes),
        "restart_writes": len(restart_writes),
        "restart_resume_seconds": round(resumed, 1),
        "peak_rss_mb": round(max(rss_first, rss_second), 1),
        "peak_rss_mb_first_run": round(rss_first, 1),
        "peak_rss_mb_after_restart": round(rss_second, 1),
        "rss_mb_idle_after_first_run": round(rss_idle, 1),
        "operator_cpu_seconds_to_ready": cpu_first,
        "llmservices_by_status_writes": {str(k): v for k, v in sorted(status_spread.items())},
        "create_to_first_status_seconds": percentiles(first_status),
        "create_to_ready_seconds": percentiles(latencies),
        "plain_client_seconds_same_writes": round(raw_time, 1),
        "ratio_operator_to_plain": round(to_ready / raw_time, 2) if raw_time else None,
        "plain_client_seconds_same_conditions": round(like_time, 1),
        "ratio_operator_to_plain_same_conditions": (
            round(to_ready / like_time, 2) if like_time else None
        ),
    }
    print(json.dumps(figures, indent=2))
    print()
    print(f"| LLMServices created at once | {args.count} |")
    print(f"| all Ready after | {to_ready:.1f} s (goal < 60 s) |")
    per = figures["writes_per_llmservice"]
    print(f"| operator mutating requests per LLMService | {per} (goal <= 5) |")
    spread = ", ".join(f"{v} with {k}" for k, v in figures["llmservices_by_status_writes"].items())
    print(f"| LLMServices by status writes | {spread} |")
    lat = figures["create_to_ready_seconds"]
    print(f"| create to Ready, each LLMService | p50 {lat.get('p50')} s, p90 {lat.get('p90')} s |")
    print(f"| operator writes while idle {args.idle:.0f} s | {len(idle_writes)} (goal 0) |")
    print(f"| operator writes after a restart | {len(restart_writes)} (goal 0) |")
    print(f"| operator peak RSS | {figures['peak_rss_mb']} MB (goal < 150 MB) |")
    print(f"| plain client, same {len(writes)} writes, alone | {raw_time:.1f} s |")
    alone = figures["ratio_operator_to_plain"]
    print(f"| ratio operator / plain client alone | {alone} (goal <= 2) |")
    print(
        f"| plain client, same writes, same conditions | {like_time:.1f} s "
        f"({args.count} creates and the fake controllers included, until all pods ready) |"
    )
    like = figures["ratio_operator_to_plain_same_conditions"]
    print(f"| ratio operator / plain client, same conditions | {like} (context) |")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
