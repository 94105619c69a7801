"""What a real node needs from this machine, and how it leaves the machine as it found it.

A kubelet and containerd change the host: they mount (container root filesystems,
network namespaces, shared memory), make cgroups, a bridge, iptables chains, and set
sysctls. Everything here acts on what the node itself made, named by its own paths,
cgroup root, bridge name and recorded sysctl values, so a system containerd or another
cluster on the same machine is never touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

CNI_DIRS = (Path("/usr/lib/cni"), Path("/opt/cni/bin"))
CNI_PLUGINS = ("bridge", "host-local", "loopback")
PROGRAMS = {
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "iptables-restore": "iptables",
    "ip": "iproute2",
}
# What the kubelet, the bridge plugin and our set-up write, to be put back at stop.
SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "net/ipv4/conf/all/route_localnet",
)
MNT_DETACH = 2


class NodeUnavailable(RuntimeError):
    """This machine cannot run a real node (not root, a program or kernel feature missing):
    a reason to skip, named in the message."""


def cni_dir() -> Path | None:
    """The first folder holding every CNI plugin the node uses."""
    for folder in CNI_DIRS:
        if all((folder / plugin).is_file() for plugin in CNI_PLUGINS):
            return folder
    return None


def cgroup_mounts() -> dict[str, Path]:
    """Each mounted cgroup hierarchy by its controllers (``memory``, ``cpu``, the named
    ``name=systemd``; ``unified`` for cgroup v2), from the kernel's mount table."""
    found: dict[str, Path] = {}
    for fields in _mountinfo():
        mount_point, fstype, options = fields[4], fields[-3], fields[-1]
        if fstype == "cgroup2":
            found.setdefault("unified", Path(mount_point))
        elif fstype == "cgroup":
            wanted = [o for o in options.split(",") if o not in ("rw", "ro")]
            key = ",".join(o for o in wanted if not o.startswith(("relatime", "nosuid")))
            found.setdefault(key or mount_point, Path(mount_point))
    return found


def cgroup_version() -> int:
    """2 when /sys/fs/cgroup is cgroup v2 alone (unified), else 1 (legacy or hybrid)."""
    return 2 if _fstype("/sys/fs/cgroup") == "cgroup2" else 1


def problems() -> list[str]:
    """What stops a real node from starting here, each said with its remedy."""
    found: list[str] = []
    if os.geteuid() != 0:
        found.append(
            f"the real node needs root (the kubelet, containerd and runc make namespaces, "
            f"cgroups and mounts); this is uid {os.geteuid()}"
        )
    missing = sorted({package for name, package in PROGRAMS.items() if not shutil.which(name)})
    if missing:
        found.append(f"missing programs; install: apt-get install {' '.join(missing)}")
    if cni_dir() is None:
        found.append(
            f"the CNI plugins {', '.join(CNI_PLUGINS)} are not in "
            f"{' or '.join(map(str, CNI_DIRS))}; install: apt-get install "
            "containernetworking-plugins"
        )
    mounts = cgroup_mounts()
    if cgroup_version() == 1:
        for controller in ("memory", "cpu", "pids", "cpuset", "freezer"):
            if not any(controller in key.split(",") for key in mounts):
                found.append(f"the cgroup v1 controller {controller} is not mounted")
    if not Path("/proc/sys/net/bridge").is_dir():
        found.append(
            "br_netfilter is not loaded (modprobe br_netfilter): Service traffic between "
            "pods on the node's bridge would bypass kube-proxy's rules"
        )
    return found


def require() -> None:
    """Raise :class:`NodeUnavailable` naming every problem, if any."""
    found = problems()
    if found:
        raise NodeUnavailable("; ".join(found))


def host_ip() -> str:
    """This machine's address on its default route: where the API server reaches the
    kubelet, pods reach the API server, and NodePorts are served."""
    # A route lookup only (nothing is sent): the source address the kernel would use.
    done = subprocess.run(
        ["ip", "-j", "-4", "route", "get", "1.0.0.1"], capture_output=True, text=True, check=False
    )
    try:
        return str(json.loads(done.stdout)[0]["prefsrc"])
    except (ValueError, LookupError) as exc:
        raise NodeUnavailable(
            f"no IPv4 default route to find this host's address: {done.stderr.strip()}"
        ) from exc


def processes_mentioning(text: str) -> list[int]:
    """Processes whose command line contains ``text`` (a folder of ours)."""
    found = []
    needle = text.encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if needle in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


# -- mounts ---------------------------------------------------------------------------------


def _unescape(path: str) -> str:
    """The kernel writes spaces and the like in mountinfo as octal escapes."""
    return path.encode().decode("unicode_escape")


def _mountinfo() -> list[list[str]]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    out = []
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        fields[4] = _unescape(fields[4])
        out.append(fields + right.split())
    return out


def _fstype(path: str) -> str:
    for fields in reversed(_mountinfo()):
        if fields[4] == path:
            return fields[-3]
    return ""


def mounts_under(folder: Path, fstype: str | None = None) -> list[Path]:
    """Mount points inside ``folder`` (of one filesystem type, if named: ``nsfs`` for
    network namespaces), deepest first: the order to unmount them in."""
    prefix = str(folder.resolve()).rstrip("/") + "/"
    found = {
        Path(f[4])
        for f in _mountinfo()
        if f[4].startswith(prefix) and (fstype is None or f[-3] == fstype)
    }
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def unmount(points: list[Path]) -> None:
    """Unmount each point (lazily where busy), in the order given."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    for point in points:
        target = str(point).encode()
        if libc.umount2(target, 0) != 0 and ctypes.get_errno() != errno.EINVAL:
            libc.umount2(target, MNT_DETACH)


def unmount_under(folder: Path) -> list[Path]:
    """Unmount everything mounted inside ``folder``; what was unmounted."""
    done: list[Path] = []
    for _ in range(5):  # a mount can hide another at the same point
        points = mounts_under(folder)
        if not points:
            break
        unmount(points)
        done += points
    return done


# -- cgroups --------------------------------------------------------------------------------


def make_cgroup(name: str) -> None:
    """Create ``/<name>`` in every hierarchy (the kubelet wants its cgroup root to exist);
    a new cpuset cgroup gets its parent's CPUs and memory nodes, or nothing could join it."""
    for mount in cgroup_mounts().values():
        folder = mount / name
        folder.mkdir(exist_ok=True)
        for knob in ("cpuset.cpus", "cpuset.mems"):
            parent = mount / knob
            if parent.exists() and not (folder / knob).read_text().strip():
                (folder / knob).write_text(parent.read_text())


def _cgroup_dirs(name: str) -> list[Path]:
    found: list[Path] = []
    for mount in cgroup_mounts().values():
        top = mount / name
        if top.is_dir():
            found += [Path(root) for root, _, _ in os.walk(top)]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def cgroup_pids(name: str) -> set[int]:
    """Every process in the cgroup tree ``/<name>`` (pods' processes, if any are left)."""
    pids: set[int] = set()
    for folder in _cgroup_dirs(name):
        with contextlib.suppress(OSError):
            pids |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
    return pids


def remove_cgroup(name: str, timeout: float = 10.0) -> set[int]:
    """Kill what is left in ``/<name>`` (by pid: these are the node's pods) and remove the
    tree in every hierarchy; the pids that had to be killed."""
    killed = cgroup_pids(name)
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while True:
        left = [d for d in _cgroup_dirs(name) if not _rmdir(d)]
        if not left or time.monotonic() > deadline:
            return killed
        time.sleep(0.2)


def _rmdir(folder: Path) -> bool:
    try:
        folder.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


# -- sysctls, links -----------------------------------------------------------------------


def read_sysctls(names: tuple[str, ...] = SYSCTLS) -> dict[str, str]:
    found = {}
    for name in names:
        with contextlib.suppress(OSError):
            found[name] = (Path("/proc/sys") / name).read_text().strip()
    return found


def write_sysctls(values: dict[str, str]) -> dict[str, str]:
    """Write those that differ; what was changed, with the value found before."""
    changed = {}
    for name, value in values.items():
        path = Path("/proc/sys") / name
        with contextlib.suppress(OSError):
            before = path.read_text().strip()
            if before != value:
                path.write_text(value)
                changed[name] = before
    return changed


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def delete_link(name: str) -> None:
    if link_exists(name):
        subprocess.run(["ip", "link", "delete", name], check=False, capture_output=True)


@dataclass
class Snapshot:
    """What the host had before the node started: the sysctls to put back, and which of
    the machine-wide folders the node's programs write to existed (those that did not are
    removed at stop once emptied of what the node put there)."""

    folders: tuple[Path, ...] = ()
    sysctls: dict[str, str] = field(default_factory=read_sysctls)
    existed: set[Path] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.existed = {folder for folder in self.folders if folder.exists()}

    def remove_new_folders(self) -> list[Path]:
        """rmdir each folder that was not there before, deepest first, if it is empty."""
        removed = []
        for folder in sorted(self.folders, key=lambda p: len(p.parts), reverse=True):
            if folder not in self.existed:
                with contextlib.suppress(OSError):
                    folder.rmdir()
                    removed.append(folder)
        return removed
