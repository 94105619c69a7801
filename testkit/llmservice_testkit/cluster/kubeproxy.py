"""The real node's kube-proxy: Services' ClusterIPs and NodePorts as iptables rules.

Choices that are not Kubernetes' defaults, and why:

- ``iptables`` mode, named: the rules are what the tests read and the stop removes
  (``kube-proxy --cleanup``, which deletes every chain kube-proxy owns; the node refuses
  to start where another kube-proxy's chains exist, so it only ever removes its own).
- NodePorts on the node's address only, and not on 127.0.0.1 (``localhostNodePorts``
  would set ``route_localnet`` on the host).
- Conntrack sysctls left as they are (``maxPerCore: 0`` and zero timeouts mean "do not
  set"): a test cluster has no business tuning the host's connection tracking.
- It speaks to the API server as ``system:kube-proxy``, which the API server's bootstrap
  RBAC binds to the role kube-proxy needs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

API_VERSION = "kubeproxy.config.k8s.io/v1alpha1"


def configuration(
    *,
    kubeconfig: Path,
    node_name: str,
    node_ip: str,
    cluster_cidr: str,
    healthz_port: int,
    metrics_port: int,
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": node_name,
        "bindAddress": node_ip,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "clusterCIDR": cluster_cidr,
        "nodePortAddresses": [f"{node_ip}/32"],
        "iptables": {"localhostNodePorts": False, "syncPeriod": "30s", "minSyncPeriod": "1s"},
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "logging": {"format": "text", "verbosity": 1},
    }


def command(binary: str, config: Path) -> list[str]:
    return [binary, f"--config={config}"]


def cleanup(binary: str, log: Path) -> int:
    """``kube-proxy --cleanup``: remove every rule and chain kube-proxy made (iptables,
    ip6tables); its exit status."""
    with log.open("ab") as out:
        done = subprocess.run(
            [binary, "--cleanup"], stdout=out, stderr=subprocess.STDOUT, timeout=60, check=False
        )
    return done.returncode
