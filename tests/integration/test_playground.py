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


@pytest.mark.parametrize("where", ["emulator", "real"])
def test_playground_without_a_cluster_reaches_ready_and_stops_on_ctrl_c(
    tmp_path: Path, where: str
) -> None:
    flags, extra = ["--emulator"], {}
    if where == "real":
        folder, missing = real_control_plane()
        if folder is None:
            pytest.skip(f"no real control plane here: {missing}")
        # HOME is a fresh folder below: name the binaries built under the real one.
        flags, extra = [], {"LLMSERVICE_KUBE_BIN_DIR": folder}
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
    deadline = time.monotonic() + 120
    ready = False
    try:
        for line in process.stdout:
            seen.append(line)
            words = line.split()
            if words[:2] == ["default", "tinyllama"] and "Ready" in words and "2/2" in words:
                ready = True
            # The pods come last in the same view: stop once that view is complete, so
            # Ctrl-C does not land in the middle of it.
            if ready and "pod/tinyllama" in line:
                break
            if time.monotonic() > deadline:
                break
        assert ready, "".join(seen)
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(seen) + rest
    assert process.returncode == 0, output
    assert "No Kubernetes cluster is reachable" in output
    assert "NOTHING REAL IS DEPLOYED" in output
    if where == "real":
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
