"""The real node's images, as containerd and runc will run them.

The images come from the cache of ``llmservice_testkit.images`` (``make images`` builds
them once per machine; these tests never build, they skip saying so). A containerd of the
test's own (its own folder, socket and namespace, no CRI) imports the archives the real
node imports, and runs the containers with runc the way the Deployment builder's pod runs
them: as the image's user, read-only root filesystem, writable volumes where the pod mounts
them, the sidecar's environment, and the sidecar's probe command exec'd in the running
container.

Skips, saying why, when the images are not built or containerd is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from llmservice_operator.builders.deployment import RUN_AS_USER
from llmservice_testkit.images import (
    BACKEND,
    NODE_IMAGES,
    OLLAMA_STANDIN,
    OPERATOR,
    PAUSE,
    BuildUnavailable,
    Image,
    ensure,
    pause_binary,
)

pytestmark = [pytest.mark.slow]

NAMESPACE = "llmservice-images-test"
RUNTIME_TOOLS = ("containerd", "ctr", "runc", "containerd-shim-runc-v2")


@pytest.fixture(scope="module")
def images() -> dict[str, Image]:
    try:
        # Only from the cache: building downloads packages, which only `make images` does.
        return ensure(NODE_IMAGES, build=False)
    except BuildUnavailable as exc:
        pytest.skip(f"the node's images: {exc}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Containerd:
    """A containerd of the test's own, stopped with everything it ran."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.socket = folder / "containerd.sock"
        self.containers: list[str] = []
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Containerd:
        config = self.folder / "config.toml"
        config.write_text(
            "version = 2\n"
            f'root = "{self.folder / "root"}"\n'
            f'state = "{self.folder / "state"}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{self.socket}"\n'
        )
        with (self.folder / "containerd.log").open("wb") as log:
            self._process = subprocess.Popen(
                ["containerd", "--config", str(config)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + 30
        while self.ctr("version", check=False).returncode != 0:
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"containerd did not start: see {self.folder}/containerd.log")
            time.sleep(0.2)
        return self

    def ctr(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", NAMESPACE, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done

    def status(self, container: str) -> str | None:
        """The task's status as ``ctr task ls`` shows it (RUNNING, STOPPED), None if none."""
        for line in self.ctr("task", "ls").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == container:
                return fields[-1]
        return None

    def name(self, prefix: str) -> str:
        container = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.containers.append(container)
        return container

    def remove(self, container: str) -> None:
        if self.status(container) is not None:
            self.ctr("task", "kill", "--signal", "SIGKILL", container, check=False)
            deadline = time.monotonic() + 10
            while self.status(container) == "RUNNING" and time.monotonic() < deadline:
                time.sleep(0.2)
            self.ctr("task", "delete", container, check=False)
        self.ctr("containers", "delete", container, check=False)

    def stop(self) -> None:
        for container in self.containers:
            self.remove(container)
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


@pytest.fixture(scope="module")
def containerd(
    images: dict[str, Image], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Containerd]:
    missing = [tool for tool in RUNTIME_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (apt-get install containerd runc)")
    runtime = Containerd(tmp_path_factory.mktemp("containerd")).start()
    try:
        for image in images.values():
            runtime.ctr("images", "import", str(image.archive))
        yield runtime
    finally:
        runtime.stop()


def _volume(tmp_path: Path, name: str, destination: str) -> list[str]:
    """A writable folder for the pod's user, mounted as the pod's emptyDir would be."""
    folder = tmp_path / name
    folder.mkdir()
    os.chown(folder, RUN_AS_USER, RUN_AS_USER)
    return ["--mount", f"type=bind,src={folder},dst={destination},options=rbind:rw"]


def _config(image: Image) -> dict[str, Any]:
    with tarfile.open(image.archive) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert manifest[0]["RepoTags"] == [image.ref]
        config: dict[str, Any] = json.load(archive.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
    return config


def test_the_archives_carry_what_pods_expect(images: dict[str, Image]) -> None:
    expected = {
        "operator": (OPERATOR, ["llmservice-operator"], ["run"], "65532:65532"),
        "backend": (BACKEND, ["llmservice-backend"], None, "65532:65532"),
        # tini first: PID 1 passes a SIGTERM that comes before Python has a handler.
        "ollama-standin": (OLLAMA_STANDIN, ["tini", "--", "ollama"], ["serve"], "65532:65532"),
        "pause": (PAUSE, ["/pause"], None, "65535:65535"),
    }
    for name, (ref, entrypoint, cmd, user) in expected.items():
        image = images[name]
        assert image.ref == ref
        config = _config(image)
        assert (config["os"], config["architecture"]) == ("linux", "amd64")
        inner = config["config"]
        assert inner["Entrypoint"] == entrypoint, name
        assert inner.get("Cmd") == cmd, name
        assert inner["User"] == user, name


def test_containerd_imports_them_under_the_references_pods_use(containerd: Containerd) -> None:
    listed = set(containerd.ctr("images", "list", "--quiet").stdout.split())
    assert {OPERATOR, BACKEND, OLLAMA_STANDIN, PAUSE} <= listed


def test_the_operator_image_runs_its_command(containerd: Containerd) -> None:
    done = containerd.ctr(
        "run", "--rm", "--read-only", OPERATOR, containerd.name("operator"),
        "llmservice-operator", "--help",
    )  # fmt: skip
    assert "usage: llmservice-operator" in done.stdout


def test_the_standins_probe_fails_when_nothing_answers(containerd: Containerd) -> None:
    done = containerd.ctr(
        "run", "--rm", "--read-only", "--net-host",
        "--env", f"OLLAMA_HOST=127.0.0.1:{_free_port()}",
        OLLAMA_STANDIN, containerd.name("probe"), "ollama", "list",
        check=False,
    )  # fmt: skip
    assert done.returncode == 1, done
    assert "could not connect" in done.stderr


def _wait(what: str, check: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.3)


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_pod_of_the_standin_and_the_backend_chats(containerd: Containerd, tmp_path: Path) -> None:
    """The two containers as the Deployment builder runs them, sharing the host's network
    as they share the pod's: the sidecar's probe, the backend's pull of the model it is
    configured with, readiness, a chat answered by SmolLM2, and a quick end on SIGTERM."""
    ollama_port, backend_port, metrics_port = _free_port(), _free_port(), _free_port()
    models = tmp_path / "models"
    sidecar = containerd.name("ollama")
    containerd.ctr(
        "run", "--detach", "--net-host", "--read-only",
        "--env", f"OLLAMA_HOST=127.0.0.1:{ollama_port}",
        "--env", "OLLAMA_MODELS=/models",
        "--env", "OLLAMA_KEEP_ALIVE=-1",
        "--env", "OLLAMA_NUM_PARALLEL=1",
        "--env", "OLLAMA_MAX_LOADED_MODELS=1",
        "--env", "HOME=/home/ollama",
        *_volume(tmp_path, "models", "/models"),
        *_volume(tmp_path, "home", "/home/ollama"),
        *_volume(tmp_path, "ollama-tmp", "/tmp"),
        OLLAMA_STANDIN, sidecar, "ollama", "serve",
    )  # fmt: skip

    def probe() -> bool:
        exec_id = f"probe-{uuid.uuid4().hex[:6]}"
        command = ("task", "exec", "--exec-id", exec_id, sidecar, "ollama", "list")
        return containerd.ctr(*command, check=False).returncode == 0

    _wait("the sidecar's probe (ollama list) to succeed", probe, timeout=60)

    backend = containerd.name("backend")
    containerd.ctr(
        "run", "--detach", "--net-host", "--read-only",
        "--env", f"OLLAMA_URL=http://127.0.0.1:{ollama_port}",
        # Not SmolLM2's own name: the backend must pull it, and the stand-in serves it.
        "--env", "MODEL_NAME=tinyllama",
        "--env", "MODEL_PULL_POLICY=IfNotPresent",
        "--env", "MODEL_KEEP_ALIVE=-1",
        "--env", f"BACKEND_PORT={backend_port}",
        "--env", f"METRICS_PORT={metrics_port}",
        *_volume(tmp_path, "backend-tmp", "/tmp"),
        BACKEND, backend,
    )  # fmt: skip
    url = f"http://127.0.0.1:{backend_port}"
    _wait("the backend's /readyz", lambda: _ready(f"{url}/readyz"))
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200

    body = {
        "model": "tinyllama",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "stream": False,
    }
    reply = httpx.post(f"{url}/api/chat", json=body, timeout=120)
    assert reply.status_code == 200, reply.text
    assert reply.json()["message"]["content"].strip()

    tags = httpx.get(f"http://127.0.0.1:{ollama_port}/api/tags", timeout=5).json()
    assert [m["name"] for m in tags["models"]] == ["tinyllama:latest"]
    assert json.loads((models / "ollama-standin-models.json").read_text()) == ["tinyllama:latest"]

    # The kubelet stops the backend first, then the sidecar; each ends on SIGTERM.
    for container in (backend, sidecar):
        started = time.monotonic()
        containerd.ctr("task", "kill", "--signal", "SIGTERM", container)
        _wait(
            f"{container} to stop on SIGTERM",
            lambda c=container: containerd.status(c) == "STOPPED",
            timeout=30,
        )
        assert time.monotonic() - started < 15


def test_pause_ends_on_sigterm(containerd: Containerd) -> None:
    container = containerd.name("pause")
    outcome: dict[str, int] = {}

    def run() -> None:
        done = containerd.ctr("run", "--rm", PAUSE, container, check=False, timeout=60)
        outcome["code"] = done.returncode

    thread = threading.Thread(target=run)
    thread.start()
    _wait("pause to run", lambda: containerd.status(container) == "RUNNING", timeout=30)
    time.sleep(0.5)
    containerd.ctr("task", "kill", "--signal", "SIGTERM", container)
    thread.join(timeout=30)
    assert outcome == {"code": 0}


def test_pause_reaps_the_orphans_of_its_pid_namespace(images: dict[str, Image]) -> None:
    """As PID 1 of a pod sharing its process namespace: an orphan is re-parented to pause,
    and when it exits pause collects it, so no zombie stays."""
    binary = pause_binary()
    if binary is None or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.skip("needs the built pause program, unshare and nsenter")
    outer = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", str(binary)])
    try:
        pause_pid = _wait("pause to start", lambda: _children(outer.pid), timeout=10)[0]
        # A shell in pause's namespace starts a child and exits at once: the orphan's new
        # parent is the namespace's init, pause.
        subprocess.run(
            ["nsenter", "--target", str(pause_pid), "--pid", "--", "sh", "-c",
             "sleep 1 & exit 0"],
            check=True, timeout=10,
        )  # fmt: skip
        assert _wait("the orphan to be re-parented", lambda: _children(pause_pid), timeout=5)
        _wait("pause to reap the orphan", lambda: not _children(pause_pid), timeout=10)
        os.kill(pause_pid, 15)
        assert outer.wait(timeout=10) == 0
    finally:
        if outer.poll() is None:
            outer.kill()
            outer.wait()


def _children(pid: int) -> list[int]:
    """Every child of ``pid``, zombies included (read from /proc/*/stat: this kernel has
    no /proc/PID/task/TID/children)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found
