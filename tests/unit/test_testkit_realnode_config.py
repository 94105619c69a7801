"""The real node's configuration files (llmservice_testkit.cluster: containerd, cni, kubelet,
kube-proxy) and its start-up checks, without starting anything: every path the node
writes is under its own folder, and a machine that cannot run it is told why."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from llmservice_testkit.cluster import cni, containerd, host, kubelet, kubeproxy, realnode


def test_containerd_keeps_everything_under_the_node_folder(tmp_path: Path) -> None:
    layout = containerd.Layout(tmp_path / "containerd")
    text = containerd.config(
        layout,
        runc="/usr/sbin/runc",
        cni_bin=Path("/usr/lib/cni"),
        cni_conf=tmp_path / "net.d",
        pause_image="localhost/llmservice-testkit/pause:1",
    )
    config = tomllib.loads(text)
    assert config["version"] == 2
    assert config["root"] == str(layout.root)
    assert config["state"] == str(layout.state)
    assert config["grpc"]["address"] == str(layout.socket)
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "localhost/llmservice-testkit/pause:1"
    assert cri["netns_mounts_under_state_dir"] is True
    assert cri["restrict_oom_score_adj"] is True
    runc = cri["containerd"]["runtimes"]["runc"]["options"]
    assert runc["SystemdCgroup"] is False
    assert runc["Root"].startswith(str(layout.state))
    assert cri["cni"]["conf_dir"] == str(tmp_path / "net.d")
    assert "io.containerd.internal.v1.opt" in config["disabled_plugins"]


def test_the_pod_network_is_a_bridge_of_its_own(tmp_path: Path) -> None:
    path = cni.write(tmp_path / "net.d", realnode.POD_SUBNET, tmp_path / "ipam")
    bridge = json.loads(path.read_text())["plugins"][0]
    assert bridge["type"] == "bridge"
    assert bridge["bridge"] == cni.BRIDGE != "cni0"
    assert len(cni.BRIDGE) <= 15
    assert bridge["ipam"]["dataDir"] == str(tmp_path / "ipam")
    assert bridge["ipam"]["ranges"] == [[{"subnet": realnode.POD_SUBNET}]]


def test_the_kubelet_runs_on_cgroup_v1_with_its_own_folders(tmp_path: Path) -> None:
    files = kubelet.KubeletFiles(
        folder=tmp_path,
        kubeconfig=tmp_path / "kubeconfig",
        ca_cert=tmp_path / "ca.crt",
        serving_cert=tmp_path / "kubelet.crt",
        serving_key=tmp_path / "kubelet.key",
        runtime_socket=tmp_path / "containerd.sock",
    )
    config = kubelet.configuration(
        files, node_ip="192.0.2.2", port=10250, healthz_port=10248, cgroup_root="/x"
    )
    assert config["failCgroupV1"] is False
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["containerRuntimeEndpoint"] == f"unix://{tmp_path / 'containerd.sock'}"
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["authorization"]["mode"] == "Webhook"
    for key in ("podLogsDir", "volumePluginDir"):
        assert config[key].startswith(str(tmp_path))
    command = kubelet.command("kubelet", files, node_name="real-node", node_ip="192.0.2.2")
    assert f"--root-dir={tmp_path}" in command
    assert "--hostname-override=real-node" in command


def test_kube_proxy_leaves_the_hosts_conntrack_and_localnet_alone(tmp_path: Path) -> None:
    config = kubeproxy.configuration(
        kubeconfig=tmp_path / "kubeconfig",
        node_name="real-node",
        node_ip="192.0.2.2",
        cluster_cidr=realnode.CLUSTER_CIDR,
        healthz_port=1,
        metrics_port=2,
    )
    assert config["mode"] == "iptables"
    assert config["iptables"]["localhostNodePorts"] is False
    assert config["conntrack"]["maxPerCore"] == 0
    assert config["nodePortAddresses"] == ["192.0.2.2/32"]


def test_a_machine_that_cannot_run_the_node_is_told_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(host.shutil, "which", lambda name: None)
    monkeypatch.setattr(host, "CNI_DIRS", (Path("/nonexistent"),))
    found = host.problems()
    assert any("needs root" in p and "uid 1000" in p for p in found)
    assert any("apt-get install" in p and "containerd" in p and "runc" in p for p in found)
    assert any("containernetworking-plugins" in p for p in found)
    with pytest.raises(host.NodeUnavailable, match="needs root"):
        host.require()


def test_leftovers_are_recognised_by_our_folder_names() -> None:
    ours = Path("/tmp/llmservice-cluster-ab12/node/containerd/state/x/rootfs")
    assert realnode._in_a_node_folder(ours)
    assert not realnode._in_a_node_folder(Path("/var/lib/containerd/x/rootfs"))
    assert not realnode._in_a_node_folder(Path("/tmp/llmservice-cluster-ab12/etcd"))
