"""The seeds' load test on pods that really run: the test kit's real node, side by side
with the seeds' figures.

The seeds ran 10+ users against 2 pods of TinyLlama in Ollama on CPU and reported 39
requests, 0 % failures, a health check of 76 ms on average and recovery of a lost pod in
under 30 s. Here the real control plane with one real node on this machine (kubelet,
containerd and runc, kube-proxy) runs examples/tinyllama.yaml, its images and requests
fitted to the node (the backend image built here; the test kit's Ollama stand-in, SmolLM2-
135M, for ollama/ollama, which no registry serves here). Measured in one run:

- `llmservice-operator loadtest` through the Service's NodePort on the node's address:
  11 users, 39 chats, /healthz checked every second;
- `llmservice-operator report` (its poster, printed as is, with `--probe`);
- a pod deleted: seconds until two pods are Ready again.

Needs root and what `make node-deps images` installs and builds; says why and exits 2
otherwise. Run: `.venv/bin/python benchmarks/real_node_seeds.py` (about 3 minutes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "tinyllama.yaml"
NAME = "tinyllama"
USERS = 11
REQUESTS = 39
SEEDS = {"requests": 39, "failures": "0 %", "health check": "76 ms", "recovery": "< 30 s"}
CLI = [sys.executable, "-m", "llmservice_operator"]


def kubectl(kubeconfig: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args],
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    if check and done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done.stdout


def ready_pods(kubeconfig: Path) -> set[str]:
    selector = f"app.kubernetes.io/instance={NAME}"
    pods = json.loads(kubectl(kubeconfig, "get", "pods", "-l", selector, "-o", "json"))["items"]

    def ready(pod: dict[str, Any]) -> bool:
        conditions = pod["status"].get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    return {
        p["metadata"]["name"]
        for p in pods
        if not p["metadata"].get("deletionTimestamp") and ready(p)
    }


def wait(check: Any, what: str, timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise RuntimeError(f"timed out waiting for {what}")


def main() -> int:
    from kubernetes import config
    from llmservice_testkit import images
    from llmservice_testkit.cluster import LocalCluster
    from llmservice_testkit.playground import (
        for_the_real_node,
        install,
        operator_process,
        real_node_unavailable,
    )

    missing = real_node_unavailable()
    if missing:
        print(f"no real node here: {missing}")
        return 2
    archives = images.ensure_images(build=False)
    loaded = [archives[images.BACKEND], archives[images.OLLAMA_STANDIN]]
    started = time.monotonic()
    with LocalCluster(0, real_node=True, images=loaded) as cluster:
        assert cluster.real_node is not None
        kubeconfig = cluster.admin_kubeconfig
        workdir = cluster.control_plane.workdir
        fitted = workdir / "example.yaml"
        fitted.write_text(yaml.safe_dump(for_the_real_node(yaml.safe_load(EXAMPLE.read_text()),
                                                           images)))  # fmt: skip
        install(config.new_client_from_config(config_file=str(kubeconfig)), fitted)  # type: ignore[no-untyped-call]
        with operator_process(kubeconfig, workdir / "operator.log"):
            kubectl(kubeconfig, "wait", "--for=condition=Ready", f"llms/{NAME}", "--timeout=600s")
            ready_at = time.monotonic() - started
            url = f"http://{cluster.real_node.address}:30080"
            env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
            load = subprocess.run(
                [*CLI, "loadtest", url, "--api", "ollama", "--no-stream", "-u", str(USERS),
                 "-r", str(REQUESTS), "--health-interval", "1", "--max-tokens", "64", "--json"],
                capture_output=True, text=True, env=env, timeout=1800, check=False,
            )  # fmt: skip
            if load.returncode not in (0, 1):
                print(load.stdout, load.stderr)
                return 1
            figures = json.loads(load.stdout)
            poster = subprocess.run(
                [*CLI, "report", NAME, "--probe"],
                capture_output=True, text=True, env=env, timeout=300, check=False,
            ).stdout  # fmt: skip
            before = wait(lambda: (p := ready_pods(kubeconfig)) and len(p) == 2 and p, "2 pods")
            victim = sorted(before)[0]
            deleted = time.monotonic()
            kubectl(kubeconfig, "delete", "pod", victim, "--wait=false")
            wait(lambda: len(ready_pods(kubeconfig) - {victim}) == 2, "a replacement")
            recovery = time.monotonic() - deleted
    print(poster)
    chats = figures["requests"]["chats"]
    health = figures["health_latency_seconds"]
    latency = figures["latency_seconds"]
    print(f"loadtest: {chats['sent']} chats, {chats['succeeded']} answered, failures "
          f"{figures['failures'] or 'none'}; latency p50 {latency['p50']:.1f} s, max "
          f"{latency['max']:.1f} s; {figures['requests']['health_checks']['sent']} health "
          f"checks")  # fmt: skip
    print(f"\ncluster with a real node up and the seeds' example Ready in {ready_at:.0f} s\n")
    failed = 100 * chats["failed"] / max(1, chats["sent"])
    rows = [
        ("chat requests", SEEDS["requests"], chats["sent"]),
        ("failures", SEEDS["failures"], f"{failed:.0f} %"),
        ("health check, average", SEEDS["health check"], f"{(health['mean'] or 0) * 1000:.0f} ms"),
        ("lost pod to Ready replacement", SEEDS["recovery"], f"{recovery:.1f} s"),
    ]
    print(f"{'':32} {'seeds':>10} {'real node':>12}")
    for label, seeds, ours in rows:
        print(f"{label:32} {seeds!s:>10} {ours!s:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
