"""``make run`` (``python -m llmservice_testkit playground``): the operator against the current
kube context, or a local playground.

With a reachable cluster this is exactly ``llmservice-operator run``. Without one, a new
user would otherwise get a stack trace about a missing kubeconfig; instead we start a
playground: the real Kubernetes control plane of :mod:`llmservice_testkit.cluster` (etcd,
kube-apiserver, kube-controller-manager, kube-scheduler built from the Kubernetes Go
modules, with simulated nodes) where Go is installed, or else the local API server of
:mod:`llmservice_testkit.emulator` with this process playing the Deployment and HPA
controllers. Either way the CRD and an example LLMService are installed, the real operator
reconciles them in a child process, and ``kubectl get llms`` and the children are shown as
they change. No container runs and no model is pulled, and the banner says so.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from llmservice_operator.tools import useryaml

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_EXAMPLE = ROOT / "examples" / "tinyllama.yaml"
CHILDREN_SELECTOR = "app.kubernetes.io/managed-by=llmservice-operator"
# What the played HPA controller reports: calm load, so the service sits at its minimum.
PLAYED_CPU_UTILIZATION = 12
# How long a freshly created CRD may take before its objects can be created.
CRD_SERVED_WITHIN = 30.0
PLAYED_MEMORY_UTILIZATION = 35
# kubectl's AGE cells ("5s", "2m10s"): ignored when deciding whether the view changed.
_AGE = re.compile(r"\b\d+[smhd](\d+[smhd])?\b")


def cluster_unreachable_reason(timeout: float = 3.0) -> str | None:
    """Why the current kube context cannot be used, or None when it answers."""
    from kubernetes import client
    from llmservice_operator.runtime.kubeconfig import KubeconfigError, connect

    try:
        cluster = connect()
    except KubeconfigError as exc:
        where = os.environ.get("KUBECONFIG", "~/.kube/config")
        return f"no usable kubeconfig at {where} and not inside a cluster ({exc})"
    try:
        client.VersionApi(cluster.api_client).get_code(_request_timeout=timeout)
    except Exception as exc:  # any failure to answer means: not usable
        return f"the API server of the current context does not answer ({type(exc).__name__})"
    finally:
        cluster.api_client.close()  # type: ignore[no-untyped-call]
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PlayedControllers:
    """Move the world on like kube-controller-manager would, once per tick.

    Pods are (re)created only when a Deployment's generation or replica count changed
    since the last tick, so the pods' names stay put while nothing happens.
    """

    def __init__(self, api_client: Any) -> None:
        self._api_client = api_client
        self._seen: dict[str, tuple[int, int]] = {}

    def tick(self) -> None:
        from kubernetes import client

        from llmservice_testkit.emulator import controllers

        apps: Any = client.AppsV1Api(self._api_client)
        autoscaling: Any = client.AutoscalingV2Api(self._api_client)
        hpas = _items(
            autoscaling.list_horizontal_pod_autoscaler_for_all_namespaces(
                label_selector=CHILDREN_SELECTOR, _preload_content=False
            )
        )
        for hpa in hpas:
            namespace = hpa["metadata"]["namespace"]
            target = hpa["spec"]["scaleTargetRef"]["name"]
            scale = apps.read_namespaced_deployment_scale(target, namespace)
            current = scale.spec.replicas or 0
            wanted = min(
                max(current, hpa["spec"].get("minReplicas", 1)), hpa["spec"]["maxReplicas"]
            )
            if current != wanted:
                apps.patch_namespaced_deployment_scale(
                    target, namespace, {"spec": {"replicas": wanted}}
                )
            if (hpa.get("status") or {}).get("currentReplicas") != wanted:
                controllers.set_hpa_status(
                    self._api_client,
                    namespace,
                    hpa["metadata"]["name"],
                    current_replicas=wanted,
                    cpu_utilization=PLAYED_CPU_UTILIZATION,
                    memory_utilization=PLAYED_MEMORY_UTILIZATION,
                )
        deployments = _items(
            apps.list_deployment_for_all_namespaces(
                label_selector=CHILDREN_SELECTOR, _preload_content=False
            )
        )
        for deployment in deployments:
            meta = deployment["metadata"]
            state = (meta.get("generation", 0), deployment["spec"].get("replicas", 1))
            if self._seen.get(meta["uid"]) != state:
                controllers.simulate_deployment(self._api_client, meta["namespace"], meta["name"])
                self._seen[meta["uid"]] = state


def _items(response: Any) -> list[dict[str, Any]]:
    """Items of a list call made with ``_preload_content=False``, as plain dicts."""
    items: list[dict[str, Any]] = json.loads(response.data)["items"]
    return items


def kubectl_snapshot(kubeconfig: Path) -> str:
    """What a user would see with kubectl: the LLMServices, then their children."""
    if shutil.which("kubectl") is None:
        return "(kubectl is not installed: install it to see `kubectl get llms` here)\n"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    parts = []
    for args in (
        ["get", "llms", "-A", "-o", "wide"],
        ["get", "deployments,services,hpa,pods", "-A", "-l", CHILDREN_SELECTOR],
    ):
        result = subprocess.run(
            ["kubectl", *args], env=env, capture_output=True, text=True, timeout=30
        )
        parts.append(result.stdout or result.stderr)
    return "\n".join(parts)


@contextlib.contextmanager
def operator_process(
    kubeconfig: Path, log_path: Path, settings: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "LLMSERVICE_HEALTH_HOST": "127.0.0.1",
        "LLMSERVICE_HEALTH_PORT": str(free_port()),
        "LLMSERVICE_METRICS_PORT": str(free_port()),
        **(settings or {}),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "llmservice_operator", "run"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def install(api_client: Any, example: Path) -> None:
    from kubernetes import client
    from llmservice_operator.api.crd import crd_manifest
    from llmservice_operator.api.models import API_GROUP, API_VERSION, PLURAL

    extensions: Any = client.ApiextensionsV1Api(api_client)
    extensions.create_custom_resource_definition(crd_manifest())
    custom = client.CustomObjectsApi(api_client)
    # A real API server serves a new CRD's resource a moment after it is created (and even
    # after Established, for a little while): until then creating an object answers 404.
    deadline = time.monotonic() + CRD_SERVED_WITHIN
    for document in useryaml.load_all(example.read_text()):
        if not document:
            continue
        namespace = document.get("metadata", {}).get("namespace", "default")
        while True:
            try:
                custom.create_namespaced_custom_object(
                    API_GROUP, API_VERSION, namespace, PLURAL, document
                )
                break
            except client.ApiException as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def show(
    kubeconfig: Path,
    operator: subprocess.Popen[bytes],
    log_path: Path,
    tick: Callable[[], None] | None,
    stop: threading.Event,
    interval: float,
    max_seconds: float | None,
) -> int:
    """Print what kubectl shows whenever it changes, until stopped (Ctrl-C, SIGTERM or
    ``max_seconds``); ``tick`` plays the controllers where there are none."""
    from kubernetes import client

    print(f"operator started (pid {operator.pid})", flush=True)
    last = ""
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    while not stop.is_set():
        if operator.poll() is not None:
            print(
                f"The operator exited with code {operator.returncode}; see {log_path}",
                file=sys.stderr,
            )
            return 1
        if tick is not None:
            try:
                tick()
            except client.ApiException as exc:
                print(f"(controller tick failed: {exc.status} {exc.reason})")
        snapshot = kubectl_snapshot(kubeconfig)
        if _AGE.sub("", snapshot) != last:
            print(time.strftime("--- %H:%M:%S ---"), snapshot, sep="\n", flush=True)
            last = _AGE.sub("", snapshot)
        if deadline is not None and time.monotonic() > deadline:
            break
        stop.wait(interval)
    return 0


def run_real(
    example: Path, interval: float, max_seconds: float | None, reason: str, nodes: int = 2
) -> int:
    """The playground on the real control plane: nothing is played but the kubelet."""
    from kubernetes import config as untyped_config

    from llmservice_testkit.cluster import LocalCluster

    config: Any = untyped_config
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(
        f"No Kubernetes cluster is reachable: {reason}.\n"
        "Starting a LOCAL PLAYGROUND on a real Kubernetes control plane (etcd, kube-apiserver, "
        "kube-controller-manager, kube-scheduler), built once from the Kubernetes Go modules "
        f"(cluster/), with {nodes} simulated nodes.",
        flush=True,
    )
    try:
        with LocalCluster(nodes, ready_delay=3.0) as cluster:
            kubeconfig = cluster.admin_kubeconfig
            log_path = cluster.control_plane.workdir / "operator.log"
            print(
                "ReplicaSets, scheduling, the autoscaler and garbage collection are real. "
                "NOTHING REAL IS DEPLOYED: the simulated nodes report pods running, but no "
                "container runs and no model is pulled.\n"
                f"  kube-apiserver    {cluster.url} (kubectl: export KUBECONFIG={kubeconfig})\n"
                f"  component logs    {cluster.control_plane.workdir / 'logs'}\n"
                f"  operator log      {log_path}\n"
                f"  example applied   {example}\n"
                "Ctrl-C stops everything it started.\n",
                flush=True,
            )
            api_client = config.new_client_from_config(config_file=str(kubeconfig))
            install(api_client, example)
            with operator_process(kubeconfig, log_path) as operator:
                return show(kubeconfig, operator, log_path, None, stop, interval, max_seconds)
    except KeyboardInterrupt:
        return 0
    finally:
        print("Stopped the operator and the control plane.", flush=True)


class ServiceRelay:
    """127.0.0.1:PORT relayed to a Service's ClusterIP, which the host reaches through the
    real node's kube-proxy rules: chat on localhost, balanced over the ready pods as any
    client of the Service is."""

    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", port))
        self.port = int(self.server.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, name="relay", daemon=True)

    def start(self) -> ServiceRelay:
        self._thread.start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)

        def pipe(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)

        back = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
        back.start()
        pipe(client, upstream)
        back.join()
        client.close()
        upstream.close()

    def close(self) -> None:
        self.server.close()


def for_the_real_node(document: dict[str, Any], images: Any) -> dict[str, Any]:
    """The example as the real node can run it: the images built here (no registry), and
    requests that fit two pods beside each other on a machine of 2 CPUs."""
    spec = document.setdefault("spec", {})
    spec.setdefault("backend", {})["image"] = images.BACKEND
    ollama = spec.setdefault("ollama", {})
    ollama["image"] = images.OLLAMA_STANDIN
    ollama["resources"] = {
        "requests": {"cpu": "250m", "memory": "384Mi"},
        "limits": {"memory": "1Gi"},
    }
    return document


def real_node_unavailable() -> str | None:
    """Why this machine cannot run the playground on a real node, or None."""
    from llmservice_testkit import images
    from llmservice_testkit.cluster import NodeUnavailable, host

    try:
        host.require()
        images.ensure_images(build=False)
    except (NodeUnavailable, images.BuildUnavailable) as exc:
        return str(exc)
    return None


def run_real_node(example: Path, interval: float, max_seconds: float | None, reason: str) -> int:
    """The playground on the real control plane with a real node: the example's pods run
    the backend image and the test kit's Ollama stand-in (SmolLM2-135M), and chat is
    answered on localhost."""
    from kubernetes import client
    from kubernetes import config as untyped_config

    from llmservice_testkit import images
    from llmservice_testkit.cluster import LocalCluster

    config: Any = untyped_config
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    archives = images.ensure_images(build=False)
    documents = [d for d in useryaml.load_all(example.read_text()) if d]
    print(
        f"No Kubernetes cluster is reachable: {reason}.\n"
        "Starting a LOCAL PLAYGROUND on a real Kubernetes control plane with a REAL NODE on "
        "this machine (kubelet, containerd and runc, kube-proxy), built from the Kubernetes "
        "Go modules (cluster/). The example's pods really run: the backend image and, in "
        "place of ollama/ollama (no registry here), the test kit's Ollama stand-in serving "
        "SmolLM2-135M.",
        flush=True,
    )
    relay: ServiceRelay | None = None
    try:
        loaded = [archives[images.BACKEND], archives[images.OLLAMA_STANDIN]]
        with LocalCluster(0, real_node=True, images=loaded) as cluster:
            kubeconfig = cluster.admin_kubeconfig
            log_path = cluster.control_plane.workdir / "operator.log"
            print(
                f"  kube-apiserver    {cluster.url} (kubectl: export KUBECONFIG={kubeconfig})\n"
                f"  component logs    {cluster.control_plane.workdir / 'logs'}\n"
                f"  operator log      {log_path}\n"
                f"  example applied   {example} (images and requests fitted to this node)\n"
                "Ctrl-C stops everything it started.\n",
                flush=True,
            )
            api_client = config.new_client_from_config(config_file=str(kubeconfig))
            fitted = cluster.control_plane.workdir / "example.yaml"
            fitted.write_text(yaml.safe_dump_all([for_the_real_node(d, images) for d in documents]))
            install(api_client, fitted)
            first = documents[0]["metadata"]
            namespace, name = first.get("namespace", "default"), first["name"]

            def chat_on_localhost() -> None:
                nonlocal relay
                if relay is not None:
                    return
                custom: Any = client.CustomObjectsApi(api_client)
                found = custom.get_namespaced_custom_object(
                    "llmservice.dev", "v1alpha1", namespace, "llmservices", name
                )
                if (found.get("status") or {}).get("phase") != "Ready":
                    return
                svc: Any = client.CoreV1Api(api_client).read_namespaced_service(name, namespace)
                target = (str(svc.spec.cluster_ip), int(svc.spec.ports[0].port))
                relay = ServiceRelay(target).start()
                url = f"http://127.0.0.1:{relay.port}"
                model = (documents[0].get("spec") or {}).get("model", {}).get("name", "")
                body = json.dumps(
                    {"model": model, "messages": [{"role": "user", "content": "Hello!"}],
                     "stream": False}
                )  # fmt: skip
                print(
                    f"\nCHAT WITH THE REAL MODEL: {url}/ (the chat page), or\n"
                    f"  curl {url}/api/chat -d '{body}'\n",
                    flush=True,
                )

            with operator_process(kubeconfig, log_path) as operator:
                return show(
                    kubeconfig, operator, log_path, chat_on_localhost, stop, interval, max_seconds
                )
    except KeyboardInterrupt:
        return 0
    finally:
        if relay is not None:
            relay.close()
        print("Stopped the operator, the real node and the control plane.", flush=True)


def run_local(example: Path, interval: float, max_seconds: float | None, reason: str) -> int:
    from kubernetes import config as untyped_config

    from llmservice_testkit.emulator.thread import ServerThread

    config: Any = untyped_config

    workdir = Path(tempfile.mkdtemp(prefix="llmservice-playground-"))
    kubeconfig = workdir / "kubeconfig"
    log_path = workdir / "operator.log"
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with ServerThread(kubeconfig_path=kubeconfig) as server:
            print(
                f"No Kubernetes cluster is reachable: {reason}.\n"
                "Starting a LOCAL PLAYGROUND instead. NOTHING REAL IS DEPLOYED: no pod runs "
                "and no model is pulled.\n"
                f"  local API server  {server.url} (kubectl: export KUBECONFIG={kubeconfig})\n"
                f"  operator log      {log_path}\n"
                f"  example applied   {example}\n"
                "This process plays the Deployment and HPA controllers so you can watch the "
                "real operator reconcile. Ctrl-C stops everything it started.\n",
                flush=True,
            )
            api_client = config.new_client_from_config(config_file=str(kubeconfig))
            install(api_client, example)
            played = PlayedControllers(api_client)
            with operator_process(kubeconfig, log_path) as operator:
                return show(kubeconfig, operator, log_path, played.tick, stop, interval,
                            max_seconds)  # fmt: skip
    except KeyboardInterrupt:
        pass
    finally:
        print("Stopped the operator and the local API server.", flush=True)
    return 0


HELP = (
    "run the operator against the current kube context; without a reachable cluster, a "
    "local playground that deploys nothing real (make run)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--example", type=Path, default=DEFAULT_EXAMPLE,
                        help="LLMService file applied in the playground")  # fmt: skip
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between ticks")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="stop the playground after this long (for tests)")  # fmt: skip
    parser.add_argument("--local", action="store_true",
                        help="use the playground even when a cluster is reachable")  # fmt: skip
    parser.add_argument("--simulated", action="store_true",
                        help="simulated nodes even where a real node can run")  # fmt: skip
    parser.add_argument("--emulator", action="store_true",
                        help="play on the local API server even where the real control plane "
                        "can be built")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    reason = "--local was given" if args.local else cluster_unreachable_reason()
    if reason is None:
        from llmservice_operator.runtime import main as operator_main

        return operator_main.main()
    if not args.emulator:
        from llmservice_testkit.cluster import BuildFailed, BuildUnavailable, build

        try:
            build.ensure(build.CONTROL_PLANE)
        except (BuildUnavailable, BuildFailed) as exc:
            print(f"(the real control plane is not available: {exc}; using the emulator)")
        else:
            if not args.simulated:
                missing = real_node_unavailable()
                if missing is None:
                    return run_real_node(args.example, args.interval, args.max_seconds, reason)
                print(f"(no real node here: {missing}; the nodes are simulated)")
            return run_real(args.example, args.interval, args.max_seconds, reason)
    return run_local(args.example, args.interval, args.max_seconds, reason)
