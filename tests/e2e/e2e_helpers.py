"""Where the end-to-end tests run, chosen by the shared options of tests/conftest.py,
and the helpers the tests share.

- default (CI): the local API server of ``llmservice_testkit.emulator``, the operator as a
  subprocess (``python -m llmservice_operator run``, cluster-wide), and the Deployment and
  HPA controllers played by this process (``playground.PlayedControllers``). No container
  runs: the tests that need real pods skip.
- ``real`` (also in CI, beside ``local``, where Go is installed): the real control plane
  of ``llmservice_testkit.cluster`` (etcd, kube-apiserver, kube-controller-manager,
  kube-scheduler built from the Kubernetes Go module; simulated nodes play the kubelet),
  the operator as a subprocess under the ServiceAccount and ClusterRole of ``deploy/``,
  watching the test namespace, which enforces the restricted Pod Security level. Nothing
  is played: ReplicaSets, pods, HPA status and garbage collection are Kubernetes' own. No
  container runs (the nodes are simulated): the tests that need real pods skip.
- ``node`` (in CI where the machine can run it: root, containerd, runc, the CNI plugins,
  the images of ``make images``): the real control plane with one *real* node (kubelet,
  containerd and runc, CNI, kube-proxy on this host; ``llmservice_testkit.cluster``), the
  operator deployed from its own image with ``kubectl apply -k tests/e2e/node`` (deploy/
  with the locally built image), and the test LLMServices running the backend image and
  the test kit's Ollama stand-in (``localhost/ollama-standin:dev``: Ollama's API with
  SmolLM2-135M through llama.cpp; tests/e2e/README.md says why and how it differs). Every
  container really runs, probes are executed, chat goes through the Service.
- ``--kubeconfig FILE``: the cluster of that kubeconfig, which must already have the
  operator installed cluster-wide (``kubectl apply -k deploy/``: the tests make a namespace
  of their own) and able to pull the images; the tests play nothing.
  ``LLMSERVICE_E2E_BACKEND_IMAGE`` overrides the backend image of the test's LLMServices
  (for a cluster that cannot pull the default one).
- ``--kind`` (``make e2e-kind``): a kind cluster made for the session: both images built
  with Docker and loaded into kind, the operator installed with ``kubectl apply -k
  tests/e2e/kind`` (deploy/ with the local image tags), the cluster deleted at the end
  (unless ``LLMSERVICE_E2E_KEEP_CLUSTER=1``). Skips when Docker or kind is missing.

Every test gets the namespace of the session (``E2E.namespace``); the LLMService names in
the tests are distinct, so tests do not depend on each other's order.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "crds" / "llmservices.llmservice.dev.yaml"
KIND_OVERLAY = ROOT / "tests" / "e2e" / "kind"
NODE_OVERLAY = ROOT / "tests" / "e2e" / "node"
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}
KIND_CLUSTER = "llmservice-e2e"
OPERATOR_IMAGE = "llmservice-operator:e2e"  # the tags tests/e2e/kind/kustomization.yaml uses
BACKEND_IMAGE = "llmservice-backend:e2e"
KUBECTL = shutil.which("kubectl")
REAL_PODS_REASON = (
    "needs real pods: the mode 'node' (the test kit's real node) runs them, or --kubeconfig "
    "FILE (a cluster with the operator installed) or --kind; the local API server and the "
    "simulated nodes of the real control plane run no containers"
)
T = TypeVar("T")


@dataclass
class E2E:
    """One environment for the session: a kubeconfig, a namespace and what it can do."""

    mode: str  # "local", "real", "node", "cluster" or "kind"
    kubeconfig: Path
    namespace: str
    backend_image: str | None = None
    ollama_image: str | None = None
    # How long a step may take: seconds in the local API server, minutes with real pods
    # (image pulls, model downloads).
    ready_timeout: float = 60.0
    step_timeout: float = 45.0
    notes: list[str] = field(default_factory=list)
    # The test kit's real node (mode "node"): its address, and its containerd for what
    # only the host can do (stop a container's process, say).
    node: Any = None

    @property
    def real_pods(self) -> bool:
        return self.mode in ("node", "cluster", "kind")

    def kubectl(
        self,
        *args: str,
        check: bool = True,
        stdin: str | None = None,
        timeout: float = 60,
        namespaced: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """kubectl against the environment, in the test namespace when ``namespaced``."""
        if KUBECTL is None:
            pytest.skip("kubectl is not installed")
        ns = ["-n", self.namespace] if namespaced else []
        result = subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), *ns, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    def api_client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))  # type: ignore[no-untyped-call]


def wait_for(check: Callable[[], T | None], what: str, timeout: float, interval: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except Exception as exc:  # an object not there yet, a kubectl hiccup: try again
            last = exc
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what}; last: {last!r}"
            )
        time.sleep(interval)


# --------------------------------------------------------------------------------------
# the local API server, the operator process and the played controllers


class ControllerThread:
    """``PlayedControllers.tick`` every ``interval`` seconds in a daemon thread."""

    def __init__(self, api_client: Any, interval: float = 0.2) -> None:
        from llmservice_testkit.playground import PlayedControllers

        self._played = PlayedControllers(api_client)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="played-controllers", daemon=True)
        self.last_error: Exception | None = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._played.tick()
            except Exception as exc:  # an object deleted mid-tick; the next tick catches up
                self.last_error = exc

    def __enter__(self) -> ControllerThread:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


@contextlib.contextmanager
def local_environment(workdir: Path) -> Iterator[E2E]:
    from llmservice_testkit.emulator.thread import ServerThread
    from llmservice_testkit.playground import operator_process

    if KUBECTL is None:
        pytest.skip("kubectl is not installed (the e2e tests drive the cluster with it)")
    kubeconfig = workdir / "kubeconfig"
    with ServerThread(kubeconfig_path=kubeconfig):
        env = E2E("local", kubeconfig, f"e2e-{uuid.uuid4().hex[:6]}")
        env.kubectl("apply", "-f", str(CRD_PATH), namespaced=False)
        env.kubectl(
            "wait",
            "--for=condition=Established",
            "crd/llmservices.llmservice.dev",
            namespaced=False,
        )
        create_namespace(env)
        api_client = env.api_client()
        log_path = workdir / "operator.log"
        try:
            with operator_process(kubeconfig, log_path) as process, ControllerThread(api_client):
                env.notes.append(f"operator log: {log_path}")
                yield env
                if process.poll() is not None:
                    raise AssertionError(
                        f"the operator exited ({process.returncode}):\n{log_path.read_text()}"
                    )
        finally:
            api_client.close()


def create_namespace(env: E2E, labels: dict[str, str] | None = None) -> None:
    # `kubectl create namespace` sends protobuf, which the local API server refuses (415).
    doc = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": env.namespace, "labels": labels or {}},
    }
    env.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(doc), namespaced=False)


@contextlib.contextmanager
def real_environment(real: Any, workdir: Path) -> Iterator[E2E]:
    """The session's real control plane (tests/conftest.py ``real_cluster``)."""
    from llmservice_testkit.playground import operator_process

    env = E2E("real", real.kubeconfig, f"e2e-{uuid.uuid4().hex[:6]}")
    create_namespace(env, RESTRICTED)
    log_path = workdir / "operator-real.log"
    settings = {"LLMSERVICE_NAMESPACES": env.namespace, "LLMSERVICE_FIRST_STATUS_DELAY": "0"}
    try:
        with operator_process(real.operator_kubeconfig, log_path, settings) as process:
            env.notes.append(f"operator log: {log_path}")
            yield env
            if process.poll() is not None:
                raise AssertionError(
                    f"the operator exited ({process.returncode}):\n{log_path.read_text()}"
                )
    finally:
        env.kubectl("delete", "namespace", env.namespace, "--wait=false", check=False,
                    namespaced=False)  # fmt: skip


@contextlib.contextmanager
def node_environment(real: Any) -> Iterator[E2E]:
    """The real node's control plane (tests/conftest.py ``real_node_cluster``): the images
    loaded into its containerd, the operator deployed from its own image."""
    from llmservice_testkit import images

    try:
        archives = images.ensure_images(build=False)
    except images.BuildUnavailable as exc:
        pytest.skip(f"the real node's images are not built (make images): {exc}")
    node = real.cluster.real_node
    for ref in (images.OPERATOR, images.BACKEND, images.OLLAMA_STANDIN):
        node.import_image(archives[ref])
    env = E2E(
        "node",
        real.kubeconfig,
        f"e2e-{uuid.uuid4().hex[:6]}",
        backend_image=images.BACKEND,
        ollama_image=images.OLLAMA_STANDIN,
        ready_timeout=300.0,
        step_timeout=120.0,
        node=node,
    )
    env.kubectl("apply", "-k", str(NODE_OVERLAY), namespaced=False)
    rollout = env.kubectl(
        "-n", "llmservice-system", "rollout", "status", "deployment/llmservice-operator",
        "--timeout=180s", namespaced=False, check=False, timeout=200,
    )  # fmt: skip
    if rollout.returncode != 0:
        pods = env.kubectl("-n", "llmservice-system", "describe", "pods", namespaced=False,
                           check=False).stdout  # fmt: skip
        raise AssertionError(f"the operator did not start on the real node:\n{pods}")
    create_namespace(env, RESTRICTED)
    try:
        yield env
    finally:
        logs = env.kubectl("-n", "llmservice-system", "logs", "deployment/llmservice-operator",
                           "--tail=200", namespaced=False, check=False).stdout  # fmt: skip
        (real.workdir / "operator-node.log").write_text(logs)
        env.kubectl("delete", "namespace", env.namespace, "--wait=false", check=False,
                    namespaced=False)  # fmt: skip


# --------------------------------------------------------------------------------------
# a cluster of the user's, and kind


def cluster_environment(kubeconfig: Path) -> E2E:
    env = E2E(
        "cluster",
        kubeconfig,
        f"e2e-{uuid.uuid4().hex[:6]}",
        backend_image=os.environ.get("LLMSERVICE_E2E_BACKEND_IMAGE") or None,
        ready_timeout=900.0,
        step_timeout=300.0,
    )
    reached = env.kubectl("version", check=False, timeout=30, namespaced=False)
    if reached.returncode != 0:
        pytest.fail(f"the cluster of {kubeconfig} does not answer:\n{reached.stderr}")
    crd = env.kubectl(
        "get", "crd", "llmservices.llmservice.dev", check=False, timeout=30, namespaced=False
    )
    if crd.returncode != 0:
        pytest.fail(
            f"the LLMService CRD is not installed in the cluster of {kubeconfig}: install the "
            "operator first (kubectl apply -k deploy/)"
        )
    create_namespace(env)
    return env


def _run(*args: str, timeout: float = 1800) -> None:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def kind_missing_reason() -> str | None:
    for tool in ("docker", "kind", "kubectl"):
        if shutil.which(tool) is None:
            return f"--kind needs {tool}, which is not installed"
    engine = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if engine.returncode != 0:
        return "--kind needs a running Docker engine (`docker info` failed)"
    return None


@contextlib.contextmanager
def kind_environment(workdir: Path) -> Iterator[E2E]:
    reason = kind_missing_reason()
    if reason:
        pytest.skip(reason)
    kubeconfig = workdir / "kind-kubeconfig"
    _run("docker", "build", "-t", OPERATOR_IMAGE, str(ROOT))
    _run("docker", "build", "-t", BACKEND_IMAGE, str(ROOT / "backend_image"))
    _run("kind", "create", "cluster", "--name", KIND_CLUSTER, "--kubeconfig", str(kubeconfig),
         "--wait", "180s")  # fmt: skip
    try:
        for image in (OPERATOR_IMAGE, BACKEND_IMAGE):
            _run("kind", "load", "docker-image", image, "--name", KIND_CLUSTER)
        kubectl = [str(KUBECTL), "--kubeconfig", str(kubeconfig)]
        _run(*kubectl, "apply", "-k", str(KIND_OVERLAY))
        _run(*kubectl, "-n", "llmservice-system", "rollout", "status",
             "deployment/llmservice-operator", "--timeout=300s")  # fmt: skip
        env = cluster_environment(kubeconfig)
        env.mode = "kind"
        env.backend_image = BACKEND_IMAGE
        yield env
    finally:
        if os.environ.get("LLMSERVICE_E2E_KEEP_CLUSTER") != "1":
            subprocess.run(["kind", "delete", "cluster", "--name", KIND_CLUSTER], check=False)


def modes(config: pytest.Config) -> list[str]:
    """The environments of a run: the one named by an option, or both built-in ones."""
    if config.getoption("--kind"):
        return ["kind"]
    if config.getoption("--kubeconfig"):
        return ["cluster"]
    return ["local", "real", "node"]


@pytest.fixture(scope="session")
def e2e(request: pytest.FixtureRequest, e2e_mode: str) -> Iterator[E2E]:
    workdir = Path(tempfile.mkdtemp(prefix="llmservice-e2e-"))
    kubeconfig = request.config.getoption("--kubeconfig")
    if e2e_mode == "real":
        with real_environment(request.getfixturevalue("real_cluster"), workdir) as env:
            yield env
    elif e2e_mode == "node":
        with node_environment(request.getfixturevalue("real_node_cluster")) as env:
            yield env
    elif request.config.getoption("--kind"):
        with kind_environment(workdir) as env:
            yield env
    elif kubeconfig:
        env = cluster_environment(Path(kubeconfig))
        try:
            yield env
        finally:
            env.kubectl(
                "delete", "namespace", env.namespace, "--wait=false", check=False, namespaced=False
            )
    else:
        with local_environment(workdir) as env:
            yield env


# --------------------------------------------------------------------------------------
# the test's LLMService

CHAT_MANIFEST = ROOT / "tests" / "e2e" / "manifests" / "chat.yaml"


# What a pod of the seeds' example asks for on the test kit's real node, whose 2 CPUs
# cannot hold two pods of 1 CPU each beside the operator: the stand-in serves a 135M model.
NODE_OLLAMA_RESOURCES = {
    "requests": {"cpu": "250m", "memory": "384Mi"},
    "limits": {"memory": "1Gi"},
}


def for_environment(env: E2E, doc: dict[str, Any]) -> dict[str, Any]:
    """An LLMService as the environment can run it: its images where it has its own, and on
    the real node requests that fit it."""
    spec = doc.setdefault("spec", {})
    if env.backend_image:
        spec.setdefault("backend", {})["image"] = env.backend_image
    if env.ollama_image:
        spec.setdefault("ollama", {})["image"] = env.ollama_image
    if env.mode == "node":
        spec.setdefault("ollama", {})["resources"] = NODE_OLLAMA_RESOURCES
    return doc


def chat_manifest(env: E2E, name: str) -> dict[str, Any]:
    """tests/e2e/manifests/chat.yaml under ``name``, as the environment can run it."""
    doc: dict[str, Any] = yaml.safe_load(CHAT_MANIFEST.read_text())
    doc["metadata"]["name"] = name
    return for_environment(env, doc)


def apply_chat(env: E2E, name: str) -> dict[str, Any]:
    doc = chat_manifest(env, name)
    env.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(doc))
    return doc


def wait_ready(env: E2E, name: str) -> None:
    waited = env.kubectl(
        "wait",
        "--for=condition=Ready",
        f"llms/{name}",
        f"--timeout={int(env.ready_timeout)}s",
        check=False,
        timeout=env.ready_timeout + 30,
    )
    if waited.returncode != 0:
        described = env.kubectl("describe", f"llms/{name}", check=False).stdout
        raise AssertionError(f"llms/{name} did not become Ready:\n{waited.stderr}\n{described}")


def jsonpath(env: E2E, resource: str, path: str) -> str:
    return env.kubectl("get", resource, "-o", f"jsonpath={{{path}}}").stdout.strip()
