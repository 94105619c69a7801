"""The real node's pod network: one Linux bridge with the host as gateway, addresses from
the node's pod range (Debian's containernetworking-plugins: bridge and host-local; the
CRI plugin adds loopback itself).

The bridge has a name of its own (never ``cni0``, which a system runtime may use), and
host-local keeps its address leases under the node's folder. Pods' traffic leaving the
range is masqueraded, so pods reach the host, the API server and the outside world.
No portmap plugin: pods' ``hostPort`` is not supported (Services and NodePorts are).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NETWORK = "llmservice-testkit"
BRIDGE = "lstk0"  # at most 15 characters (IFNAMSIZ)


def conflist(subnet: str, leases: Path, bridge: str = BRIDGE) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": True,
                "ipMasq": True,
                # A pod reaching a Service that kube-proxy sends back to the same pod.
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(leases),
                },
            }
        ],
    }


def write(folder: Path, subnet: str, leases: Path, bridge: str = BRIDGE) -> Path:
    """The configuration folder containerd reads (one file; CNI picks it by name order)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "10-llmservice-testkit.conflist"
    path.write_text(json.dumps(conflist(subnet, leases, bridge), indent=1))
    return path
