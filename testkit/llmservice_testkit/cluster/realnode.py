"""A real node joined to the local control plane: containerd (with runc), the CNI bridge,
the kubelet and kube-proxy, so pods really run, probes are really executed and Services
really carry traffic.

    with ControlPlane(["real-node"], host_ip=host.host_ip()) as cp:
        node = RealNode(cp, images=[Path("backend.tar")]).start()
        ...
        node.stop()

Everything the node writes is under ``<control plane's folder>/node/``; the stop ends
exactly the processes it started (and any pod process left in its cgroup tree), unmounts
what was mounted there, removes its cgroups, bridge and kube-proxy's rules, and puts back
the sysctls the kubelet and the bridge changed. One real node per machine (a lock file):
the kubelet's cgroup root, the bridge and kube-proxy's chains are machine-wide names.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml

from llmservice_testkit.cluster import (
    build,
    cni,
    containerd,
    host,
    iptables,
    kubelet,
    kubeproxy,
    nodeimages,
)
from llmservice_testkit.cluster import pki as pki_files
from llmservice_testkit.cluster.controlplane import (
    ControlPlane,
    free_port,
    kubeconfig,
    write_kubeconfig,
)
from llmservice_testkit.cluster.nodeimages import ImageArchive
from llmservice_testkit.cluster.processes import Component, launch, terminate, wait_ready

NAME = "real-node"
POD_SUBNET = "10.244.255.0/24"  # beside the simulated nodes' 10.244.<index>.0/24
CLUSTER_CIDR = "10.244.0.0/16"
CGROUP_ROOT = "llmservice-testkit"
LOCK = Path("/run/llmservice-testkit-node.lock")
# Paths fixed in the programs themselves (not settable): the kubelet's links to container
# logs and its device-plugin socket, the shims' sockets of containerd 1.6, and the CNI
# library's cache of results (one file per pod, removed when its network is torn down).
CONTAINER_LOGS = Path("/var/log/containers")
DEVICE_PLUGIN_SOCKET = Path("/var/lib/kubelet/device-plugins/kubelet.sock")
MACHINE_FOLDERS = (
    CONTAINER_LOGS,
    DEVICE_PLUGIN_SOCKET.parent,
    DEVICE_PLUGIN_SOCKET.parent.parent,
    Path("/run/containerd/s"),
    Path("/run/containerd"),
    Path("/var/lib/cni/results"),
    Path("/var/lib/cni"),
)
READY_TIMEOUT = 120.0
DRAIN_TIMEOUT = 60.0


@dataclass
class StopReport:
    """What the stop had to clean beyond ending its own processes (for tests and logs)."""

    killed_tasks: list[str] = field(default_factory=list)
    removed_chains: list[str] = field(default_factory=list)
    killed_pids: list[int] = field(default_factory=list)
    unmounted: list[Path] = field(default_factory=list)
    restored_sysctls: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # each step's duration
    _last: float = field(default_factory=time.monotonic, repr=False)

    def step(self, name: str) -> None:
        """Record the time since the previous step as ``name``'s."""
        now = time.monotonic()
        self.seconds[name] = round(now - self._last, 2)
        self._last = now


class RealNode:
    """One real node for a started :class:`ControlPlane` whose node names include ``name``
    (its token, ``system:node:NAME``) and whose ``host_ip`` is set (pods reach the API
    server there). ``images``: archives loaded into containerd's ``k8s.io`` namespace."""

    def __init__(
        self,
        control_plane: ControlPlane,
        *,
        name: str = NAME,
        images: Sequence[Path] = (),
        pause: ImageArchive | None = None,
        pod_subnet: str = POD_SUBNET,
        binaries: build.Binaries | None = None,
    ) -> None:
        if not control_plane.host_ip:
            raise ValueError("the control plane must be started with host_ip for a real node")
        self.control_plane = control_plane
        self.name = name
        self.address = control_plane.host_ip
        self.image_archives = [Path(p) for p in images]
        self.pause = pause
        self.pod_subnet = pod_subnet
        self.binaries = binaries
        self.folder = control_plane.workdir / "node"
        self.runtime = containerd.Layout(self.folder / "containerd")
        self.components: list[Component] = []
        self.imported: list[str] = []  # image references now in the runtime
        self.started_in = 0.0  # seconds from start() to Ready
        self._lock: IO[str] | None = None
        self._snapshot: host.Snapshot | None = None
        self._tables_before: set[tuple[str, str]] = set()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> RealNode:
        started = time.monotonic()
        host.require()
        self._take_lock()
        try:
            self._tables_before = iptables.tables()  # before anything lists them
            self._refuse_foreign_state()
            self.binaries = self.binaries or build.ensure(build.NODE)
            self.pause = self.pause or nodeimages.pause()
            self._snapshot = host.Snapshot(MACHINE_FOLDERS)
            # Bridged pod traffic through iptables (Services between pods on the bridge).
            host.write_sysctls(
                {"net/bridge/bridge-nf-call-iptables": "1", "net/ipv4/ip_forward": "1"}
            )
            self._start_containerd()
            self._import_images()
            self._start_kubelet()
            self._start_kube_proxy()
            self._wait_node_ready()
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - started
        return self

    def stop(self) -> StopReport:
        """Drain, end the processes, and leave the host as found; safe to call twice."""
        report = StopReport()
        if self._lock is None:
            return report
        by_name = {c.name: c for c in self.components}
        try:
            if "kubelet" in by_name and by_name["kubelet"].process.poll() is None:
                self._drain(report)
            report.step("drain")
            if "kube-proxy" in by_name:
                terminate(by_name["kube-proxy"].process)
            if self.binaries is not None and self._snapshot is not None:
                log = self.control_plane.workdir / "logs" / "kube-proxy-cleanup.log"
                if kubeproxy.cleanup(str(self.binaries.path("kube-proxy")), log) != 0:
                    report.problems.append(f"kube-proxy --cleanup failed: see {log}")
            report.step("kube-proxy")
            if "kubelet" in by_name:
                terminate(by_name["kubelet"].process)
            if self._snapshot is not None:  # the chains were checked absent at start
                report.removed_chains = iptables.remove(iptables.KUBELET_CHAINS)
                report.removed_chains += iptables.remove_new_empty_tables(self._tables_before)
            report.step("kubelet")
            if "containerd" in by_name:
                if by_name["containerd"].process.poll() is None:
                    report.killed_tasks = containerd.kill_tasks(self.runtime)
                terminate(by_name["containerd"].process)
            self.components.clear()
            report.step("containerd")
            report.killed_pids = self._kill_leftovers()
            report.unmounted = host.unmount_under(self.folder)
            left = host.mounts_under(self.folder)
            if left:
                report.problems.append(f"still mounted: {', '.join(map(str, left))}")
            running = host.processes_mentioning(str(self.folder))
            if running:
                report.problems.append(f"processes still running: {running}")
            host.delete_link(cni.BRIDGE)
            if self._snapshot is not None:
                report.restored_sysctls = host.write_sysctls(self._snapshot.sysctls)
                self._remove_machine_files()
                self._snapshot.remove_new_folders()
            self._delete_node_object()
            report.step("host")
        finally:
            self._release_lock()
        return report

    def __enter__(self) -> RealNode:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what tests and users read --------------------------------------------------------

    @property
    def log_folder(self) -> Path:
        return self.control_plane.workdir / "logs"

    def ctr(self, *args: str) -> str:
        """``ctr`` against the node's containerd in the CRI namespace (its output)."""
        done = containerd.ctr(self.runtime, *args)
        if done.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def network_namespaces(self) -> list[Path]:
        """The pods' network namespaces: mounted under containerd's state folder."""
        return host.mounts_under(self.folder, "nsfs")

    def import_image(self, archive: Path) -> list[str]:
        """Load one more image archive into the running node."""
        refs = containerd.import_image(self.runtime, archive)
        self.imported += refs
        return refs

    # -- the parts ------------------------------------------------------------------------

    def _refuse_foreign_state(self) -> None:
        """The machine-wide names the node uses must be free: then everything the stop
        removes under them is the node's own."""
        found = iptables.existing(iptables.KUBELET_CHAINS + iptables.KUBE_PROXY_CHAINS)
        if host.link_exists(cni.BRIDGE):
            found.append(f"the bridge {cni.BRIDGE}")
        if DEVICE_PLUGIN_SOCKET.exists():
            found.append(f"{DEVICE_PLUGIN_SOCKET} (a kubelet's)")
        if found:
            raise host.NodeUnavailable(
                f"another kubelet or kube-proxy runs on this machine, or a crashed real node "
                f"left its state: {', '.join(found)} "
                "(python -m llmservice_testkit cluster --clean-real-node removes it)"
            )

    def _take_lock(self) -> None:
        LOCK.parent.mkdir(parents=True, exist_ok=True)
        lock = LOCK.open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            lock.close()
            raise host.NodeUnavailable(
                f"another real node runs on this machine (pid {holder} holds {LOCK}): the "
                "kubelet's cgroups, the bridge and kube-proxy's rules are machine-wide"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        self._lock = lock

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing releases the lock; the empty file stays
            self._lock = None

    def _spawn(self, name: str, command: list[str]) -> Component:
        component = launch(name, command, self.log_folder / f"{name}.log")
        self.components.append(component)
        return component

    def _start_containerd(self) -> None:
        cni_bin = host.cni_dir()
        assert cni_bin is not None  # host.require() checked
        assert self.pause is not None
        cni_conf = cni.write(self.folder / "cni" / "net.d", self.pod_subnet, self.folder / "ipam")
        self.runtime.folder.mkdir(parents=True, exist_ok=True)
        self.runtime.config.write_text(
            containerd.config(
                self.runtime,
                runc=_which("runc"),
                cni_bin=cni_bin,
                cni_conf=cni_conf.parent,
                pause_image=self.pause.ref,
            )
        )
        component = self._spawn("containerd", containerd.command(self.runtime))
        wait_ready(component, lambda: containerd.version(self.runtime), 60)

    def _import_images(self) -> None:
        assert self.pause is not None
        for archive in [self.pause.path, *self.image_archives]:
            if not archive.is_file():
                raise FileNotFoundError(f"image archive {archive} does not exist")
            self.import_image(archive)

    def _start_kubelet(self) -> None:
        cp = self.control_plane
        folder = self.folder / "kubelet"
        folder.mkdir(parents=True, exist_ok=True)
        cert = pki_files.serving_certificate(cp.pki, "kubelet", self.name, (self.address,))
        token = cp.pki.nodes[self.name]
        files = kubelet.KubeletFiles(
            folder=folder,
            kubeconfig=write_kubeconfig(
                folder / "kubeconfig",
                kubeconfig(cp.url, cp.pki.ca_cert, token.name, token.token),
            ),
            ca_cert=cp.pki.ca_cert,
            serving_cert=cert,
            serving_key=cert.with_suffix(".key"),
            runtime_socket=self.runtime.socket,
        )
        healthz = free_port()
        config = kubelet.configuration(
            files,
            node_ip=self.address,
            port=free_port(),
            healthz_port=healthz,
            cgroup_root=f"/{CGROUP_ROOT}",
        )
        files.config.write_text(yaml.safe_dump(config, sort_keys=False))
        host.make_cgroup(CGROUP_ROOT)
        assert self.binaries is not None
        command = kubelet.command(
            str(self.binaries.path("kubelet")), files, node_name=self.name, node_ip=self.address
        )
        component = self._spawn("kubelet", command)
        wait_ready(component, lambda: _http_ok(f"http://127.0.0.1:{healthz}/healthz"))

    def _start_kube_proxy(self) -> None:
        cp = self.control_plane
        folder = self.folder / "kube-proxy"
        folder.mkdir(parents=True, exist_ok=True)
        user = cp.pki.kube_proxy
        config_path = folder / "config.yaml"
        healthz = free_port()
        config = kubeproxy.configuration(
            kubeconfig=write_kubeconfig(
                folder / "kubeconfig", kubeconfig(cp.url, cp.pki.ca_cert, user.name, user.token)
            ),
            node_name=self.name,
            node_ip=self.address,
            cluster_cidr=CLUSTER_CIDR,
            healthz_port=healthz,
            metrics_port=free_port(),
        )
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        assert self.binaries is not None
        command = kubeproxy.command(str(self.binaries.path("kube-proxy")), config_path)
        component = self._spawn("kube-proxy", command)
        # /healthz answers 200 once the first full sync of the rules is done.
        wait_ready(component, lambda: _http_ok(f"http://127.0.0.1:{healthz}/healthz"))

    def _wait_node_ready(self) -> None:
        def ready() -> bool:
            node = self._api("GET", f"/api/v1/nodes/{self.name}")
            conditions = node.get("status", {}).get("conditions", [])
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        kubelet_process = next(c for c in self.components if c.name == "kubelet")
        wait_ready(kubelet_process, ready, READY_TIMEOUT)

    # -- the stop's parts -----------------------------------------------------------------

    def _drain(self, report: StopReport) -> None:
        """Cordon the node and delete its pods (1 s grace), so the kubelet itself stops
        every container and tears down every pod network; wait for the runtime to be idle."""
        try:
            self._api(
                "PATCH",
                f"/api/v1/nodes/{self.name}",
                {"spec": {"unschedulable": True}},
                content_type="application/merge-patch+json",
            )
            pods = self._api("GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{self.name}")
            for pod in pods.get("items", []):
                meta = pod["metadata"]
                with contextlib.suppress(urllib.error.HTTPError):
                    self._api(
                        "DELETE",
                        f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                        {"gracePeriodSeconds": 1},
                    )
        except (OSError, ValueError) as exc:
            report.problems.append(f"drain through the API failed: {exc!r}")
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while time.monotonic() < deadline:
            if not containerd.running_tasks(self.runtime):
                return
            time.sleep(0.5)
        report.problems.append(f"pods still running {DRAIN_TIMEOUT:.0f} s after the drain")

    def _kill_leftovers(self) -> list[int]:
        """Shims still serving our containerd (found by its socket's path, which is ours
        alone) and processes left in the node's cgroups; then the cgroups themselves."""
        marker = str(self.runtime.socket)
        killed = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker.encode() in cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed.append(int(entry.name))
        killed += sorted(host.remove_cgroup(CGROUP_ROOT))
        return killed

    def _remove_machine_files(self) -> None:
        """What the programs wrote outside our folder: the kubelet's links into it, its
        device-plugin socket, CNI results of our network."""
        ours = str(self.folder) + "/"
        if CONTAINER_LOGS.is_dir():
            for link in CONTAINER_LOGS.iterdir():
                with contextlib.suppress(OSError):
                    if link.is_symlink() and os.readlink(link).startswith(ours):
                        link.unlink()
        DEVICE_PLUGIN_SOCKET.unlink(missing_ok=True)
        results = Path("/var/lib/cni/results")
        if results.is_dir():
            for entry in results.glob(f"{cni.NETWORK}-*"):
                entry.unlink(missing_ok=True)

    def _delete_node_object(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._api("DELETE", f"/api/v1/nodes/{self.name}")

    def _api(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        cp = self.control_plane
        request = urllib.request.Request(
            f"{cp.url}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Authorization": f"Bearer {cp.pki.admin.token}",
                "Content-Type": content_type,
            },
        )
        with urllib.request.urlopen(request, timeout=10, context=cp.ssl_context()) as answer:
            return dict(json.loads(answer.read()))


def _which(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise host.NodeUnavailable(f"{program} is not installed")
    return found


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=3) as answer:
        return bool(answer.status == 200)


def clean_leftovers(kube_proxy: Path | None = None) -> list[str]:
    """Remove what a real node killed without its stop left on this machine (its starter
    SIGKILLed, the machine's power cut): kubelet's and kube-proxy's chains, the bridge,
    the kubelet's socket, the pods' processes and cgroups, mounts under a cluster folder
    of ours (``llmservice-cluster-*/node``); what was done. Refused while a node runs."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise host.NodeUnavailable("a real node is running: stop it instead") from None
        done: list[str] = []
        marker = b"/node/containerd/containerd.sock"
        for entry in Path("/proc").iterdir():
            with contextlib.suppress(OSError):
                if entry.name.isdigit():
                    words = (entry / "cmdline").read_bytes().split(b"\0")
                    if any(b"llmservice-cluster-" in w and w.endswith(marker) for w in words):
                        os.kill(int(entry.name), signal.SIGKILL)
                        done.append(f"killed {entry.name} ({words[0].decode()})")
        done += [f"killed pod process {pid}" for pid in host.remove_cgroup(CGROUP_ROOT)]
        ours = [p for p in host.mounts_under(Path("/")) if _in_a_node_folder(p)]
        host.unmount(ours)
        done += [f"unmounted {p}" for p in ours]
        if iptables.existing(iptables.KUBE_PROXY_CHAINS) and kube_proxy is not None:
            kubeproxy.cleanup(str(kube_proxy), Path(os.devnull))
            done.append("kube-proxy --cleanup")
        done += [f"removed {chain}" for chain in iptables.remove(iptables.KUBELET_CHAINS)]
        if host.link_exists(cni.BRIDGE):
            host.delete_link(cni.BRIDGE)
            done.append(f"deleted {cni.BRIDGE}")
        if DEVICE_PLUGIN_SOCKET.exists():
            DEVICE_PLUGIN_SOCKET.unlink()
            done.append(f"removed {DEVICE_PLUGIN_SOCKET}")
    return done


def _in_a_node_folder(path: Path) -> bool:
    parts = path.parts
    return any(
        p.startswith("llmservice-cluster-") and parts[i + 1 : i + 2] == ("node",)
        for i, p in enumerate(parts)
    )


def main() -> int:
    """``make node-deps``' last step: say whether this machine can run a real node (and
    why not: the reason its tests will skip); if it can, build kubelet and kube-proxy and
    the node's images now, so no test waits for them."""
    problems = host.problems()
    if problems:
        print(f"real node: its tests will skip here: {'; '.join(problems)}", flush=True)
        return 0
    try:
        binaries = build.ensure(build.CONTROL_PLANE + build.NODE)
        made = [nodeimages.pause(), nodeimages.busybox()]
    except (build.BuildUnavailable, host.NodeUnavailable) as exc:
        print(f"real node: its tests will skip here: {exc}", flush=True)
        return 0
    except build.BuildFailed as exc:
        print(exc, flush=True)
        return 1
    print(
        f"real node: this machine can run it; binaries in {binaries.folder}, images "
        f"{', '.join(str(m.path) for m in made)}",
        flush=True,
    )
    return 0
