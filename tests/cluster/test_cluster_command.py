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


def _node_traces(folder: str) -> dict[str, object]:
    """What a real node could leave on this host, limited to what is its own (other work
    on the machine mounts and makes chains too)."""
    from llmservice_testkit.cluster import cni, host, iptables, realnode

    chains = {
        f"{family} {table} {line.split()[1]}"
        for family in iptables.FAMILIES
        for table in ("filter", "nat", "mangle")
        for line in iptables.rules(family, table)
        if line.startswith("-N KUBE-")
    }
    links = realnode.CONTAINER_LOGS
    return {
        "processes": processes_using(folder),
        "mounts": host.mounts_under(Path(folder)),
        "bridge": host.link_exists(cni.BRIDGE),
        "kube chains": sorted(chains),
        "nft tables": sorted(iptables.tables()),
        "sysctls": host.read_sysctls(),
        "cgroup": sorted(host.cgroup_pids(realnode.CGROUP_ROOT)),
        "cgroup folders": [
            str(m) for m in host.cgroup_mounts().values() if (m / realnode.CGROUP_ROOT).exists()
        ],
        "device plugin socket": realnode.DEVICE_PLUGIN_SOCKET.exists(),
        "log links": links.is_dir() and any(folder in str(p.resolve()) for p in links.iterdir()),
    }


@pytest.mark.own_real_node
def test_the_cluster_command_runs_a_real_node_and_leaves_the_host_as_found(
    tmp_path: Path,
) -> None:
    """``--real-node --image ARCHIVE``: a pod runs; SIGTERM stops it all and the host has
    none of the node's processes, mounts, network namespaces, cgroups, bridge, chains or
    changed sysctls. Skips where this machine cannot run a real node."""
    from llmservice_testkit.cluster import (
        BuildUnavailable,
        NodeUnavailable,
        build,
        host,
        nodeimages,
    )
    from llmservice_testkit.cluster.realnode import LOCK

    assert KUBECTL is not None
    try:
        host.require()
        build.ensure(build.CONTROL_PLANE + build.NODE)
        busybox = nodeimages.busybox()
    except (BuildUnavailable, NodeUnavailable) as exc:
        pytest.skip(f"no real node here: {exc}")
    before = _node_traces("/nonexistent")
    kubeconfig = tmp_path / "kubeconfig"
    command = [sys.executable, "-m", "llmservice_testkit", "cluster", "--nodes", "0",
               "--real-node", "--image", str(busybox.path),
               "--kubeconfig", str(kubeconfig)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
        if "another real node runs" in line:
            pytest.skip(f"a real node runs already (the session's, {LOCK}): {line}")
        assert line.startswith("ready in"), line + process.stdout.read()
        assert "real node real-node at" in line
        folder = re.search(r"files and logs: (\S+)", line)
        assert folder is not None
        workdir = folder.group(1)
        # etcd, the three components, containerd, kubelet, kube-proxy
        assert len(processes_using(workdir)) == 7

        def kubectl(*args: str) -> str:
            return subprocess.run(
                [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
                capture_output=True, text=True, timeout=120, check=True,
            ).stdout  # fmt: skip

        kubectl("run", "sleeper", f"--image={busybox.ref}", "--restart=Never", "--",
                "sleep", "3600")  # fmt: skip
        kubectl("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=90s")
        assert host.mounts_under(Path(workdir), "nsfs")  # a pod's network namespace
        assert len(processes_using(workdir)) > 7  # the shims

        process.send_signal(signal.SIGTERM)
        assert process.wait(120) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    after = _node_traces(workdir)
    assert after == {**before, "processes": [], "mounts": []}
    assert not Path(workdir).exists()
