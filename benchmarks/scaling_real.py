"""From a load step to more pods: CPU-only scaling beside in-flight scaling, on the real
control plane with the real HPA controller.

Three LLMServices run side by side (1 to 4 pods, the operator's default behavior: pods
added at once, at most 2 or 100 % a minute), each in its own namespace:

- ``in-flight``: ``metrics: [{type: InFlightRequests, targetAverageValue: 3}]`` (4 slots);
- ``cpu``: ``metrics: [{type: CPU, targetUtilizationPercentage: 70}]``, with pods whose CPU
  is ``--cpu-at-full`` percent of their requests when all 4 slots generate (60 % by
  default: a pod bound by its slots, not its CPU, the case the issue describes);
- ``cpu-bound``: the same CPU target with pods at ``--cpu-bound-at-full`` (140 %) when
  full: a CPU-bound pod, where CPU scaling does see the load.

At the step, ``--chats`` chats arrive at once and stay (long generations). A feeder plays
the pods' backends: every half second it spreads the chats over the Ready pods as the
Service would (each pod takes up to its 4 slots, the rest queue), and sets each pod's
in-flight count and CPU in the test metrics API (``llmservice_testkit.metricsapi``), which
kube-apiserver serves to the HPA controller through aggregated APIServices. A pod that is
not Ready gets no chats and reports none in flight and no CPU. The simulated node agent
makes a pod Ready ``--ready-delay`` seconds after it starts (a stand-in for pulling and
loading a model, which takes minutes in a cluster). kube-controller-manager syncs HPAs
every 15 s, Kubernetes' default.

Measured from the step, per service: when the HPA first wants more pods
(``status.desiredReplicas``), when the operator first reports ``ScalingUp``, when the first
new pod is Ready, and when ``--chats`` can all generate (enough pods Ready for every chat to
hold a slot); "never" when not within ``--duration`` seconds.

    python benchmarks/scaling_real.py            # needs root and ip (the metrics API's
                                                 # network namespace) and the cluster build
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import operator_scale as bench
from kubernetes import client
from llmservice_testkit.cluster import LocalCluster, NodeShape
from llmservice_testkit.cluster.session import prepare
from llmservice_testkit.metricsapi import IN_FLIGHT, QUEUED, MetricsAPI, netns

ROOT = Path(__file__).resolve().parents[1]
SLOTS = 4
INSTANCE = "app.kubernetes.io/instance"
# The default pod's cpu requests: backend 100m + Ollama 1 core.
POD_CPU_REQUEST = 1.1


@dataclass
class Scenario:
    name: str
    metrics: list[dict[str, Any]]
    cpu_at_full: float  # percent of the pod's cpu requests with every slot generating
    namespace: str = ""
    step: float = 0.0
    times: dict[str, float] = field(default_factory=dict)
    final_pods: int = 0

    def mark(self, what: str) -> None:
        self.times.setdefault(what, time.monotonic() - self.step)


def service(name: str, metrics: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "llmservice.dev/v1alpha1",
        "kind": "LLMService",
        "metadata": {"name": name},
        "spec": {
            "autoscaling": {"minReplicas": 1, "maxReplicas": 4, "metrics": metrics},
            "backend": {"maxConcurrentRequests": SLOTS},
        },
    }


def ready_pods(core: Any, namespace: str) -> tuple[list[str], list[str]]:
    """(Ready pods, other running pods) of the namespace's service."""
    pods = core.list_namespaced_pod(namespace, label_selector=INSTANCE, _preload_content=False)
    ready, other = [], []
    for pod in json.loads(pods.data)["items"]:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        conditions = pod["status"].get("conditions") or ()
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            ready.append(pod["metadata"]["name"])
        else:
            other.append(pod["metadata"]["name"])
    return sorted(ready), sorted(other)


def feed(
    metrics: MetricsAPI, core: Any, scenario: Scenario, chats: int, stop: threading.Event
) -> None:
    """Play the backends of one service: its chats spread over its Ready pods."""
    while not stop.is_set():
        ready, other = ready_pods(core, scenario.namespace)
        load = chats if scenario.step else 0
        share = load / len(ready) if ready else 0.0
        for pod in ready:
            in_flight = min(SLOTS, share)
            cpu = POD_CPU_REQUEST * scenario.cpu_at_full / 100 * in_flight / SLOTS
            metrics.set(scenario.namespace, IN_FLIGHT, round(in_flight, 3), pod=pod)
            metrics.set(scenario.namespace, QUEUED, round(share - in_flight, 3), pod=pod)
            metrics.set(scenario.namespace, "cpu", f"{max(1, round(cpu * 1000))}m", pod=pod)
            metrics.set(scenario.namespace, "memory", "1Gi", pod=pod)
        for pod in other:
            for metric, value in ((IN_FLIGHT, 0), (QUEUED, 0), ("cpu", "1m"), ("memory", "1Gi")):
                metrics.set(scenario.namespace, metric, value, pod=pod)
        stop.wait(0.5)


def watch(api: Any, scenario: Scenario, needed: int, stop: threading.Event) -> None:
    """Note when each milestone is first seen after the step."""
    autoscaling = client.AutoscalingV2Api(api)
    apps = client.AppsV1Api(api)
    custom = client.CustomObjectsApi(api)
    ns = scenario.namespace
    while not stop.is_set():
        if scenario.step:
            hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler(
                "chat", ns, _preload_content=False
            )
            if (json.loads(hpa.data).get("status") or {}).get("desiredReplicas", 1) > 1:
                scenario.mark("hpa wants more pods")
            llms = custom.get_namespaced_custom_object(
                "llmservice.dev", "v1alpha1", ns, "llmservices", "chat"
            )
            state = ((llms.get("status") or {}).get("autoscaling") or {}).get("state")
            if state == "ScalingUp":
                scenario.mark("operator reports ScalingUp")
            dep = apps.read_namespaced_deployment("chat", ns, _preload_content=False)
            ready = (json.loads(dep.data).get("status") or {}).get("readyReplicas") or 0
            scenario.final_pods = ready
            if ready > 1:
                scenario.mark("first new pod Ready")
            if ready >= needed:
                scenario.mark("every chat has a slot")
        stop.wait(0.25)


def run(args: argparse.Namespace) -> list[Scenario]:
    netns.require()
    scenarios = [
        Scenario(
            "in-flight",
            [{"type": "InFlightRequests", "targetAverageValue": 3}],
            args.cpu_at_full,
        ),
        Scenario("cpu", [{"type": "CPU", "targetUtilizationPercentage": 70}], args.cpu_at_full),
        Scenario(
            "cpu-bound",
            [{"type": "CPU", "targetUtilizationPercentage": 70}],
            args.cpu_bound_at_full,
        ),
    ]
    needed = min(4, math.ceil(args.chats / SLOTS))
    workdir = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    shape = NodeShape(cpu="64", memory="256Gi", pods=110)
    bench.log("starting the real control plane (2 simulated nodes) and the test metrics API")
    with (
        LocalCluster(2, shape=shape, ready_delay=args.ready_delay, hpa_sync_seconds=15.0) as lc,
        MetricsAPI(lc.control_plane) as metrics,
    ):
        real = prepare(lc, workdir, ROOT)
        api = real.api_client()
        core = client.CoreV1Api(api)
        custom = client.CustomObjectsApi(api)
        operator: bench.OperatorProcess | None = None
        stop = threading.Event()
        threads: list[threading.Thread] = []
        try:
            for s in scenarios:
                s.namespace = f"scale-{s.name}"
                core.create_namespace({"metadata": {"name": s.namespace}})
            operator = bench.OperatorProcess(
                real.operator_kubeconfig, ",".join(s.namespace for s in scenarios), workdir
            )
            operator.start()
            for s in scenarios:
                custom.create_namespaced_custom_object(
                    "llmservice.dev",
                    "v1alpha1",
                    s.namespace,
                    "llmservices",
                    service("chat", s.metrics),
                )
                for target in (feed, watch):
                    extra = (metrics, core, s, args.chats) if target is feed else (api, s, needed)
                    thread = threading.Thread(target=target, args=(*extra, stop), daemon=True)
                    thread.start()
                    threads.append(thread)
            bench.log("waiting for each service to run 1 Ready pod, idle")
            deadline = time.monotonic() + 180
            while any(len(ready_pods(core, s.namespace)[0]) != 1 for s in scenarios):
                if time.monotonic() > deadline:
                    raise SystemExit("the services did not become Ready")
                time.sleep(1)
            time.sleep(20)  # the HPAs read the idle values at least once
            bench.log(f"load step: {args.chats} chats on each service")
            now = time.monotonic()
            for s in scenarios:
                s.step = now
            time.sleep(args.duration)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
            if operator is not None:
                operator.stop()
            api.close()
    return scenarios


MILESTONES = (
    "hpa wants more pods",
    "operator reports ScalingUp",
    "first new pod Ready",
    "every chat has a slot",
)


def report(scenarios: list[Scenario], args: argparse.Namespace) -> None:
    width = 28
    print()
    print(
        f"load step: {args.chats} chats, {SLOTS} slots per pod, pods Ready "
        f"{args.ready_delay:g} s after start, HPA sync 15 s; seconds from the step "
        f"(never: not within {args.duration:g} s)"
    )
    header = f"{'':{width}}" + "".join(f"{s.name:>14}" for s in scenarios)
    print(header)
    print(
        f"{'scales on':{width}}"
        + "".join(
            f"{'in-flight 3' if s.name == 'in-flight' else 'CPU 70 %':>14}" for s in scenarios
        )
    )
    print(
        f"{'CPU with every slot busy':{width}}"
        + "".join(f"{f'{s.cpu_at_full:g} %':>14}" for s in scenarios)
    )
    for milestone in MILESTONES:
        cells = []
        for s in scenarios:
            value = s.times.get(milestone)
            cells.append(f"{value:14.1f}" if value is not None else f"{'never':>14}")
        print(f"{milestone:{width}}" + "".join(cells))
    print(f"{'Ready pods at the end':{width}}" + "".join(f"{s.final_pods:>14}" for s in scenarios))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=12)
    parser.add_argument("--cpu-at-full", type=float, default=60.0)
    parser.add_argument("--cpu-bound-at-full", type=float, default=140.0)
    parser.add_argument("--ready-delay", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=150.0)
    args = parser.parse_args()
    try:
        scenarios = run(args)
    except netns.NamespaceUnavailable as exc:
        print(f"skipped: no test metrics API here: {exc}", file=sys.stderr)
        return 0
    report(scenarios, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
