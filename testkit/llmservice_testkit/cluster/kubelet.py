"""The real node's kubelet: its configuration file and command line.

Choices that are not Kubernetes' defaults, and why:

- ``failCgroupV1: false``: the kubelet refuses cgroup v1 hosts by default since 1.35;
  these machines are cgroup v1 (hybrid), and the kubelet still runs on v1 when told to.
- ``cgroupDriver: cgroupfs`` and a ``cgroupRoot`` of the node's own: no systemd here,
  and every pod's cgroup sits under one tree the stop removes.
- Every folder it writes is under the node's folder (``--root-dir``, ``podLogsDir``,
  ``volumePluginDir``); only ``/var/log/containers`` is fixed in the kubelet (symbolic
  links to the pods' logs, removed at stop).
- It speaks to the API server as ``system:node:NAME`` with that node's token, and serves
  its own API (logs, exec) with a certificate from the cluster's CA, accepting only client
  certificates from that CA, each request authorized by the API server (webhook).
- Eviction thresholds low and fixed: a test machine's disk is shared with everything else,
  and an eviction in the middle of a test would be a false failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

API_VERSION = "kubelet.config.k8s.io/v1beta1"


@dataclass(frozen=True)
class KubeletFiles:
    """The kubelet's inputs: what the node made for it."""

    folder: Path  # its --root-dir and the home of everything below
    kubeconfig: Path
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    runtime_socket: Path

    @property
    def config(self) -> Path:
        return self.folder / "config.yaml"

    @property
    def pod_logs(self) -> Path:
        return self.folder / "pod-logs"


def configuration(
    files: KubeletFiles,
    *,
    node_ip: str,
    port: int,
    healthz_port: int,
    cgroup_root: str,
    max_pods: int = 110,
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root,
        "cgroupsPerQOS": True,
        "containerRuntimeEndpoint": f"unix://{files.runtime_socket}",
        "address": node_ip,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "tlsCertFile": str(files.serving_cert),
        "tlsPrivateKeyFile": str(files.serving_key),
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(files.ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        "podLogsDir": str(files.pod_logs),
        "volumePluginDir": str(files.folder / "volume-plugins"),
        "clusterDomain": "cluster.local",
        # No cluster DNS runs: pods get the host's resolver (the kubelet warns once a pod).
        "resolvConf": "/etc/resolv.conf",
        "failSwapOn": False,
        "maxPods": max_pods,
        "serializeImagePulls": False,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
            "nodefs.inodesFree": "2%",
        },
        "imageGCHighThresholdPercent": 99,
        "imageGCLowThresholdPercent": 98,
        # Status and heartbeats as often as a real cluster's defaults; pods' state is
        # reported on change by the pod lifecycle events, not by this period.
        "nodeStatusUpdateFrequency": "10s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "20s",
        "shutdownGracePeriod": "0s",
        "logging": {"format": "text", "verbosity": 1},
    }


def command(binary: str, files: KubeletFiles, *, node_name: str, node_ip: str) -> list[str]:
    return [
        binary,
        f"--config={files.config}",
        f"--kubeconfig={files.kubeconfig}",
        f"--root-dir={files.folder}",
        f"--cert-dir={files.folder / 'pki'}",
        f"--hostname-override={node_name}",
        f"--node-ip={node_ip}",
    ]
