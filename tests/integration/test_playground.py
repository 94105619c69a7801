"""``make run`` without a cluster: the local playground runs the real operator, says that
nothing real is deployed, shows the example becoming Ready, and Ctrl-C stops it all."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="the playground shows its state with kubectl"
)


def real_control_plane() -> tuple[str | None, str | None]:
    """The folder of the built binaries, or why there is none."""
    from llmservice_testkit.cluster import BuildUnavailable, build

    try:
        return str(build.ensure(build.CONTROL_PLANE).folder), None
    except BuildUnavailable as exc:
        return None, str(exc)


@pytest.mark.parametrize(
    "where", ["emulator", "real", pytest.param("node", marks=pytest.mark.own_real_node)]
)
def test_playground_without_a_cluster_reaches_ready_and_stops_on_ctrl_c(
    tmp_path: Path, where: str
) -> None:
    flags, extra = ["--emulator"], {}
    if where in ("real", "node"):
        folder, missing = real_control_plane()
        if folder is None:
            pytest.skip(f"no real control plane here: {missing}")
        # HOME is a fresh folder below: name the binaries built under the real one.
        flags, extra = (
            ["--simulated"],
            {
                "LLMSERVICE_KUBE_BIN_DIR": folder,
                "XDG_CACHE_HOME": str(Path.home() / ".cache"),
            },
        )
    if where == "node":
        from llmservice_testkit.playground import real_node_unavailable

        missing = real_node_unavailable()
        if missing is not None:
            pytest.skip(f"no real node here: {missing}")
        flags = []
    env = {
        **extra,
        **os.environ,
        "KUBECONFIG": str(tmp_path / "no-such-kubeconfig"),
        "HOME": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "llmservice_testkit", "playground", "--interval", "0.5", *flags],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + (300 if where == "node" else 120)
    ready = False
    chat_url = None
    try:
        for line in process.stdout:
            seen.append(line)
            words = line.split()
            if words[:2] == ["default", "tinyllama"] and "Ready" in words and "2/2" in words:
                ready = True
            if line.startswith("CHAT WITH THE REAL MODEL:"):
                chat_url = words[5].rstrip("/")
            # The pods come last in the same view: stop once that view is complete, so
            # Ctrl-C does not land in the middle of it.
            if ready and "pod/tinyllama" in line and (where != "node" or chat_url):
                break
            if time.monotonic() > deadline:
                break
        assert ready, "".join(seen)
        if where == "node":
            # A newcomer's first chat: on localhost, answered by the real model in a pod.
            assert chat_url is not None, "".join(seen)
            body = {"model": "tinyllama", "stream": False,
                    "messages": [{"role": "user", "content": "Say hello."}]}  # fmt: skip
            answer = httpx.post(f"{chat_url}/api/chat", json=body, timeout=120)
            assert answer.status_code == 200, answer.text
            assert answer.json()["message"]["content"].strip()
            page = httpx.get(f"{chat_url}/", timeout=30)
            assert page.status_code == 200
            assert "<html" in page.text.lower()
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(seen) + rest
    assert process.returncode == 0, output
    assert "No Kubernetes cluster is reachable" in output
    if where != "node":
        assert "NOTHING REAL IS DEPLOYED" in output
    if where == "node":
        assert "with a REAL NODE on this machine" in output
        assert "Stopped the operator, the real node and the control plane." in output
        assert "pod/tinyllama-" in output
    elif where == "real":
        assert "on a real Kubernetes control plane" in output
        assert "Stopped the operator and the control plane." in output
        # Real controllers: a ReplicaSet's pods, bound to the simulated nodes.
        assert "pod/tinyllama-" in output
    else:
        assert "Stopped the operator and the local API server." in output
    # The children appeared with the example: Deployment, Service (NodePort), HPA 2..6.
    assert "deployment.apps/tinyllama" in output
    assert "NodePort" in output
    assert "horizontalpodautoscaler.autoscaling/tinyllama" in output
    # The operator child process is gone too.
    started = next(line for line in output.splitlines() if line.startswith("operator started"))
    pid = int(started.rsplit(" ", 1)[-1].rstrip(")"))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
