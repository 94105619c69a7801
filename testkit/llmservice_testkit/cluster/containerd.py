"""containerd for the real node: its own socket, root and state under the node's folder,
runc with cgroupfs, the CRI plugin pointed at the node's CNI configuration and pause image.

Debian's containerd 1.6 is used as installed. Nothing is shared with a system containerd:
the socket, the content store, the snapshots, runc's state and the pods' network
namespaces all live under the node's folder. (The shims' sockets are the exception:
containerd 1.6 puts them under /run/containerd/s/, named by a hash of our socket's path,
and each shim removes its own when it ends.)
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

NAMESPACE = "k8s.io"  # the CRI plugin's namespace: images must be imported into it
# Plugins the node has no use for; the `opt` plugin would create /opt/containerd.
DISABLED = (
    "io.containerd.internal.v1.opt",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
)


@dataclass(frozen=True)
class Layout:
    """Where one containerd keeps everything."""

    folder: Path

    @property
    def socket(self) -> Path:
        return self.folder / "containerd.sock"

    @property
    def root(self) -> Path:
        return self.folder / "root"

    @property
    def state(self) -> Path:
        return self.folder / "state"

    @property
    def config(self) -> Path:
        return self.folder / "config.toml"


def _toml(value: object) -> str:
    """A TOML value for the few types the configuration uses (JSON's strings and arrays
    are valid TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def config(layout: Layout, *, runc: str, cni_bin: Path, cni_conf: Path, pause_image: str) -> str:
    """The configuration file (schema version 2, which containerd 1.6 and 1.7 read)."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    tables: list[tuple[str, dict[str, object]]] = [
        (
            "",
            {
                "version": 2,
                "root": str(layout.root),
                "state": str(layout.state),
                "disabled_plugins": list(DISABLED),
            },
        ),
        ("grpc", {"address": str(layout.socket)}),
        ("ttrpc", {"address": str(layout.folder / "containerd.ttrpc.sock")}),
        (
            cri,
            {
                "sandbox_image": pause_image,
                # Network namespaces under our state folder, not /var/run/netns: the stop
                # finds any left behind there.
                "netns_mounts_under_state_dir": True,
                # Without CAP_SYS_RESOURCE (these VMs' root lacks it) no process may lower
                # its oom_score_adj: runc's init died writing the kubelet's -997/-998 ("can't
                # get final child's PID from pipe: EOF"). Clamped to containerd's own.
                "restrict_oom_score_adj": True,
                "enable_unprivileged_ports": True,
                "enable_unprivileged_icmp": True,
                # Streaming (exec, attach, port-forward) on loopback; the kubelet proxies it.
                "stream_server_address": "127.0.0.1",
                "stream_server_port": "0",
            },
        ),
        (f"{cri}.containerd", {"snapshotter": "overlayfs", "default_runtime_name": "runc"}),
        (f"{cri}.containerd.runtimes.runc", {"runtime_type": "io.containerd.runc.v2"}),
        (
            f"{cri}.containerd.runtimes.runc.options",
            {
                "BinaryName": runc,
                # The kubelet's cgroup driver: cgroupfs (no systemd on these machines).
                "SystemdCgroup": False,
                "Root": str(layout.state / "runc"),
            },
        ),
        (f"{cri}.cni", {"bin_dir": str(cni_bin), "conf_dir": str(cni_conf), "max_conf_num": 1}),
    ]
    lines: list[str] = []
    for name, values in tables:
        if name:
            lines.append(f"\n[{name}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def command(layout: Layout) -> list[str]:
    return ["containerd", "--config", str(layout.config), "--log-level", "info"]


def ctr(layout: Layout, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``ctr`` against this containerd, in the CRI namespace."""
    return subprocess.run(
        ["ctr", "--address", str(layout.socket), "--namespace", NAMESPACE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def version(layout: Layout) -> str:
    done = ctr(layout, "version", timeout=5)
    if done.returncode != 0:
        raise OSError(done.stderr.strip())
    return done.stdout


def import_image(layout: Layout, archive: Path) -> list[str]:
    """Load an image archive (docker-archive or OCI archive) and unpack it for the CRI
    plugin; the references it brought."""
    done = ctr(layout, "images", "import", str(archive))
    if done.returncode != 0:
        raise RuntimeError(f"ctr images import {archive} failed: {done.stderr.strip()}")
    refs = []
    for line in done.stdout.splitlines():
        # "unpacking REF (sha256:...)...done"
        if line.startswith("unpacking "):
            refs.append(line.split()[1])
    return refs


def running_tasks(layout: Layout) -> list[str]:
    """Ids of the tasks (sandboxes and containers) still running."""
    done = ctr(layout, "tasks", "list", timeout=15)
    if done.returncode != 0:
        return []
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    return [row[0] for row in rows if len(row) >= 3 and row[2] != "STOPPED"]


def kill_tasks(layout: Layout) -> list[str]:
    """SIGKILL and delete whatever task is left (a pod the kubelet did not stop in time)."""
    ids = running_tasks(layout)
    for task in ids:
        ctr(layout, "tasks", "kill", "--all", "--signal", "SIGKILL", task, timeout=15)
    for task in ids:
        ctr(layout, "tasks", "delete", "--force", task, timeout=15)
    return ids
