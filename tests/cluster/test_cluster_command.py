"""``python -m llmservice_testkit cluster``: starts, serves kubectl, and on SIGTERM stops
exactly what it started and removes its files, even when the signal comes twice."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from realcluster import KUBECTL

pytestmark = pytest.mark.slow


def processes_using(folder: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if folder in cmdline:
            found.append(int(entry.name))
    return found


def test_the_cluster_command_serves_and_stops_what_it_started(
    real_cluster: object, tmp_path: Path
) -> None:
    """``real_cluster`` only to skip where the control plane cannot be built."""
    assert KUBECTL is not None
    kubeconfig = tmp_path / "kubeconfig"
    command = [sys.executable, "-m", "llmservice_testkit", "cluster", "--nodes", "1",
               "--kubeconfig", str(kubeconfig)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
        assert line.startswith("ready in"), line + process.stdout.read()
        workdir = re.search(r"files and logs: (\S+)", line)
        assert workdir is not None
        folder = workdir.group(1)
        assert len(processes_using(folder)) == 4  # etcd and the three components
        nodes = subprocess.run(
            [KUBECTL, "--kubeconfig", str(kubeconfig), "get", "nodes", "--no-headers"],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout.split()  # fmt: skip
        assert nodes[:2] == ["node-0", "Ready"]

        process.send_signal(signal.SIGTERM)
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    deadline = time.monotonic() + 10
    while processes_using(folder) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_using(folder) == []
    assert not Path(folder).exists()


def test_a_component_restarted_in_place_serves_again(real_cluster: object) -> None:
    """``ControlPlane.restart``: the same flags, a new process (faults under test)."""
    from llmservice_testkit.cluster import ControlPlane

    assert KUBECTL is not None
    with ControlPlane([]) as cp:
        before = next(c.process.pid for c in cp.components if c.name == "kube-apiserver")
        cp.restart("kube-apiserver")
        after = next(c.process.pid for c in cp.components if c.name == "kube-apiserver")
        assert after != before
        assert [c.name for c in cp.components].count("kube-apiserver") == 1
        namespaces = subprocess.run(
            [KUBECTL, "--kubeconfig", str(cp.admin_kubeconfig), "get", "ns", "-o", "name"],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout.split()  # fmt: skip
        assert "namespace/default" in namespaces
        with pytest.raises(KeyError):
            cp.restart("kubelet")
