"""A network namespace joined to the host by a veth pair: an address kube-apiserver can
reach that is not loopback, made by the test and removed after it.

Why: with ``--enable-aggregator-routing`` the API server sends an aggregated API's requests
to an address of the Service's EndpointSlice, and the API server refuses loopback (and
link-local) addresses there. The test's server must not listen on any of the host's own
addresses either, so it gets one of its own: ``10.213.S.2`` inside the namespace, the host
end of the pair being ``10.213.S.1`` (a /30 per instance ``S``, picked free under a lock, so
several test sessions on one machine each have theirs). The listening socket is made
inside the namespace (:meth:`VethNamespace.listen`, a thread that enters it) and served by
this process; nothing else runs in the namespace.

Names carry the starter's process id (``lstk-metrics-S-PID``, host link ``lstkmS``), and
the starter holds a lock on ``/run/llmservice-testkit-metricsapi/NAME.lock`` while it
lives: a namespace whose starter is gone (the lock is free) is removed by the next start.
Deleting the namespace takes the veth pair with it once the socket is closed; the host end
is deleted explicitly too.
Root and ``ip`` (iproute2) are required; :func:`require` says what is missing.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

RANGE = ipaddress.IPv4Network("10.213.0.0/16")
PREFIX = "lstk-metrics-"
LINK_PREFIX = "lstkm"
LOCK = Path("/run/llmservice-testkit-metricsapi.lock")
OWNERS = Path("/run/llmservice-testkit-metricsapi")  # a lock file per namespace, held
NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
T = TypeVar("T")
_NAME = re.compile(rf"^{PREFIX}(\d+)-(\d+)$")


class NamespaceUnavailable(RuntimeError):
    """This machine cannot give the test server a namespace (the reason is the message)."""


def require() -> None:
    """Raise :class:`NamespaceUnavailable` naming what is missing."""
    if os.geteuid() != 0:
        raise NamespaceUnavailable("not root (a network namespace and a veth pair are made)")
    if shutil.which("ip") is None:
        raise NamespaceUnavailable("the ip command (iproute2) is not installed")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise NamespaceUnavailable(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def _owner_lock(name: str) -> Path:
    return OWNERS / f"{name}.lock"


def _alive(name: str, pid: int) -> bool:
    """Whether the namespace's starter still runs: it holds a lock on its own file for as
    long as it lives (the kernel lets go at its death, whatever PID namespace it was in);
    without that file, whether its process id answers."""
    try:
        with _owner_lock(name).open("a") as owner:
            try:
                fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            return False
    except FileNotFoundError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ours() -> dict[str, tuple[int, int]]:
    """Our namespaces on this machine: name -> (slot, pid)."""
    found = {}
    for line in _ip("netns", "list").stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if match := _NAME.match(name):
            found[name] = (int(match[1]), int(match[2]))
    return found


def _remove(name: str, slot: int) -> None:
    _ip("link", "del", f"{LINK_PREFIX}{slot}", check=False)
    _ip("netns", "del", name, check=False)
    _owner_lock(name).unlink(missing_ok=True)


def _routes() -> list[ipaddress.IPv4Network]:
    nets = []
    for line in _ip("-4", "route", "show", "table", "all").stdout.splitlines():
        first = line.split()[0] if line.split() else ""
        if first in ("default", "broadcast", "local", "unreachable"):
            continue
        with contextlib.suppress(ValueError):
            nets.append(ipaddress.ip_network(first, strict=False))
    for line in _ip("-4", "-o", "addr", "show").stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            nets.append(ipaddress.ip_interface(parts[parts.index("inet") + 1]).network)
    return [n for n in nets if isinstance(n, ipaddress.IPv4Network)]


class VethNamespace:
    """``with VethNamespace() as ns: sock = ns.listen()`` — ``ns.address`` is the server's."""

    def __init__(self) -> None:
        self.slot = -1
        self.name = ""
        self.link = ""
        self.address = ""  # inside the namespace: where the server listens
        self.host_address = ""  # the host's end of the pair
        self._owner: IO[str] | None = None

    def start(self) -> VethNamespace:
        require()
        LOCK.parent.mkdir(parents=True, exist_ok=True)
        with LOCK.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            ours = _ours()
            for name, (slot, pid) in ours.items():
                if not _alive(name, pid):
                    _remove(name, slot)
            self._make({slot for name, (slot, _) in _ours().items()})
        return self

    def _make(self, taken: set[int]) -> None:
        used = _routes()
        subnets = RANGE.subnets(new_prefix=30)
        for slot, subnet in enumerate(subnets):
            if slot not in taken and not any(subnet.overlaps(n) for n in used):
                break
        else:
            raise NamespaceUnavailable(f"no free /30 left in {RANGE}")
        host, inside = list(subnet.hosts())
        self.slot, self.name = slot, f"{PREFIX}{slot}-{os.getpid()}"
        self.link, self.address, self.host_address = f"{LINK_PREFIX}{slot}", str(inside), str(host)
        OWNERS.mkdir(parents=True, exist_ok=True)
        self._owner = _owner_lock(self.name).open("a")
        fcntl.flock(self._owner, fcntl.LOCK_EX)  # held until stop() or this process's end
        try:
            _ip("netns", "add", self.name)
            peer = ("peer", "name", "eth0", "netns", self.name)
            _ip("link", "add", self.link, "type", "veth", *peer)
            _ip("addr", "add", f"{host}/30", "dev", self.link)
            _ip("link", "set", self.link, "up")
            _ip("-n", self.name, "addr", "add", f"{inside}/30", "dev", "eth0")
            _ip("-n", self.name, "link", "set", "eth0", "up")
            _ip("-n", self.name, "link", "set", "lo", "up")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Remove the pair and the namespace (close sockets made in it first: an open socket
        keeps the namespace, and its end of the pair, alive)."""
        if self.name:
            _remove(self.name, self.slot)
            self.name = ""
        if self._owner is not None:
            self._owner.close()
            self._owner = None

    def run_inside(self, work: Callable[[], T]) -> T:
        """``work()`` on a thread that entered the namespace (a network namespace is per
        thread: the rest of the process stays where it was)."""
        result: list[T] = []
        errors: list[BaseException] = []

        def enter_and_work() -> None:
            try:
                fd = os.open(NETNS_DIR / self.name, os.O_RDONLY)
                try:
                    libc = ctypes.CDLL(None, use_errno=True)
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        errno = ctypes.get_errno()
                        raise OSError(errno, f"setns into {self.name}: {os.strerror(errno)}")
                finally:
                    os.close(fd)
                result.append(work())
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=enter_and_work, name=f"in-{self.name}")
        thread.start()
        thread.join()
        if errors:
            raise errors[0]
        return result[0]

    def listen(self, port: int = 0) -> socket.socket:
        """A listening TCP socket on :attr:`address` inside the namespace (port ``0``: any)."""

        def bind() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.address, port))
            sock.listen(128)
            sock.setblocking(False)
            return sock

        return self.run_inside(bind)

    def __enter__(self) -> VethNamespace:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
