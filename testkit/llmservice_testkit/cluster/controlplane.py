"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager
and kube-scheduler, each a process of the binaries :mod:`build` makes.

Everything it writes lives in one temporary folder (etcd's data, certificates, tokens,
kubeconfigs, logs, the audit log); :meth:`ControlPlane.stop` ends exactly the processes it
started, in reverse order, and removes the folder. Ports are picked free on 127.0.0.1.

The API server runs as clusters do: the RBAC and Node authorizers, the default admission
plugins (PodSecurity among them) plus NodeRestriction, service-account tokens signed with
a key made here, and an aggregation layer for metrics APIs. Its audit log records every
request but those of the components themselves (the controller manager, the scheduler,
the nodes), so tests and benchmarks count the operator's writes from the server's own
account of them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import ssl
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from llmservice_testkit.cluster import build, host
from llmservice_testkit.cluster import pki as pki_files
from llmservice_testkit.cluster.processes import Component, launch, stop_all, terminate, wait_ready

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # the first address of the range: the `kubernetes` Service
ISSUER = "https://kubernetes.default.svc.cluster.local"
START_TIMEOUT = 180.0

# The components' own requests are left out of the audit log: they are most of the
# traffic, and what the tests count is what the operator and its users did.
AUDIT_POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {
            "level": "None",
            "users": [
                "system:kube-controller-manager",
                "system:kube-scheduler",
                "system:kube-proxy",
                "system:apiserver",
            ],
        },
        {
            "level": "None",
            "userGroups": ["system:nodes", "system:serviceaccounts:kube-system"],
        },
        {"level": "None", "nonResourceURLs": ["/healthz*", "/readyz*", "/livez*", "/version"]},
        # Status writes keep their bodies: a test that sees one it did not expect can say
        # what changed. They are small, and few when nothing goes wrong.
        {
            "level": "Request",
            "verbs": ["patch", "update"],
            "resources": [{"group": "llmservice.dev", "resources": ["llmservices/status"]}],
        },
        {"level": "Metadata"},
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kubeconfig(server: str, ca: Path, user: str, token: str) -> dict[str, Any]:
    """A kubeconfig for one token user (the components and the tests share the shape)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "testkit",
                # The CA inline: the file stays usable wherever it is copied.
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca.read_bytes()).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "testkit", "context": {"cluster": "testkit", "user": user}}],
        "current-context": "testkit",
    }


def write_kubeconfig(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


class ControlPlane:
    """``with ControlPlane(nodes=2) as cp:`` — ``cp.url``, ``cp.admin_kubeconfig``, ``cp.pki``."""

    def __init__(
        self,
        node_names: list[str] | None = None,
        *,
        workdir: Path | None = None,
        hpa_sync_seconds: float = 5.0,
        audit: bool = True,
        binaries: build.Binaries | None = None,
        host_ip: str | None = None,
    ) -> None:
        """``host_ip``: serve on this machine's address too and advertise it as the
        ``kubernetes`` Service's endpoint, so pods on a real node reach the API server
        (through kube-proxy); without it everything stays on loopback."""
        self.node_names = list(node_names or [])
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="llmservice-cluster-"))
        self.hpa_sync_seconds = hpa_sync_seconds
        self.audit = audit
        self.binaries = binaries
        self.host_ip = host_ip
        self.components: list[Component] = []
        self.etcd_url = ""
        self.url = ""
        self._pki: pki_files.Pki | None = None

    # -- paths and identities ------------------------------------------------------------

    @property
    def pki(self) -> pki_files.Pki:
        assert self._pki is not None, "the control plane is not started"
        return self._pki

    @property
    def admin_kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.workdir / "audit.log"

    def user_kubeconfig(self, path: Path, user: str, token: str) -> Path:
        """Write a kubeconfig for a token (a ServiceAccount's, say) to ``path``."""
        return write_kubeconfig(path, kubeconfig(self.url, self.pki.ca_cert, user, token))

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.pki.ca_cert))

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> ControlPlane:
        self.binaries = self.binaries or build.ensure(build.CONTROL_PLANE)
        try:
            extra = (self.host_ip,) if self.host_ip else ()
            self._pki = pki_files.make(self.workdir / "pki", self.node_names, SERVICE_IP, extra)
            self._start_etcd()
            self._start_apiserver()
            write_kubeconfig(
                self.admin_kubeconfig,
                kubeconfig(self.url, self.pki.ca_cert, self.pki.admin.name, self.pki.admin.token),
            )
            self._start_controller_manager()
            self._start_scheduler()
            self._wait_for_default_service_account()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """End what was started (all asked at once, killed after a grace period); remove the
        folder if it was made here."""
        # etcd last: the API server's graceful shutdown writes to it (its endpoint lease)
        # and waits for it, seconds lost when etcd goes at the same moment.
        stop_all([c for c in self.components if c.name != "etcd"])
        stop_all([c for c in self.components if c.name == "etcd"])
        self.components.clear()
        if self._own_workdir and not os.environ.get("LLMSERVICE_KEEP_CLUSTER_DIR"):
            # Never delete through a mount (a real node's pod volume could be a host folder).
            if host.mounts_under(self.workdir):
                print(f"{self.workdir} kept: something is still mounted under it", flush=True)
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def restart(self, name: str) -> None:
        """Stop one component and start it again with the same flags (faults under test)."""
        for i, component in enumerate(self.components):
            if component.name == name:
                terminate(component.process)
                self.components[i] = self._launch(name, component.command)
                break
        else:
            raise KeyError(name)
        if name == "kube-apiserver":
            self._wait_ready(self.components[i], self._apiserver_ready)
        elif name == "etcd":
            self._wait_ready(self.components[i], self._etcd_ready)

    # -- the components ------------------------------------------------------------------

    def _spawn(self, name: str, command: list[str]) -> Component:
        component = self._launch(name, command)
        self.components.append(component)
        return component

    def _launch(self, name: str, command: list[str]) -> Component:
        # The API server's graceful shutdown waits for etcd, which gets the same signal at
        # the same moment when the starter dies: it was seen serving on, alone, for minutes.
        # Nobody is left to shut down gracefully for, so it is killed.
        death = "KILL" if name == "kube-apiserver" else "TERM"
        return launch(name, command, self.workdir / "logs" / f"{name}.log", death_signal=death)

    def _binary(self, name: str) -> str:
        assert self.binaries is not None
        return str(self.binaries.path(name))

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        component = self._spawn(
            "etcd",
            [
                self._binary("etcd"),
                "--name=testkit",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=testkit={peer_url}",
                # A test cluster's data is thrown away: no fsync, the disk is not the bottleneck.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self._wait_ready(component, self._etcd_ready)

    def _etcd_ready(self) -> bool:
        with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2) as answer:
            return bool(json.loads(answer.read()).get("health") == "true")

    def _start_apiserver(self) -> None:
        port = free_port()
        self.url = f"https://127.0.0.1:{port}"
        keys = self.pki
        flags = [
            self._binary("kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            f"--secure-port={port}",
            f"--cert-dir={self.workdir / 'pki'}",
            f"--tls-cert-file={keys.serving_cert}",
            f"--tls-private-key-file={keys.serving_key}",
            f"--client-ca-file={keys.ca_cert}",
            f"--token-auth-file={keys.token_file}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--service-account-issuer={ISSUER}",
            f"--service-account-key-file={keys.service_account_public}",
            f"--service-account-signing-key-file={keys.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # A real kubelet (logs, exec) is reached at its node's address with a client
            # certificate, and its own serving certificate is checked against the CA.
            f"--kubelet-client-certificate={keys.kubelet_client_cert}",
            f"--kubelet-client-key={keys.kubelet_client_key}",
            f"--kubelet-certificate-authority={keys.ca_cert}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            # The aggregation layer (a metrics server registers through it).
            f"--requestheader-client-ca-file={keys.front_proxy_ca}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={keys.front_proxy_cert}",
            f"--proxy-client-key-file={keys.front_proxy_key}",
            "--enable-aggregator-routing=true",
            "--profiling=false",
        ]
        if self.host_ip:
            # Pods reach the API server through the `kubernetes` Service, whose endpoint is
            # the advertised address: every address is served (loopback for the tests).
            flags += [
                "--bind-address=0.0.0.0",
                f"--advertise-address={self.host_ip}",
                "--endpoint-reconciler-type=lease",
            ]
        else:
            # Endpoints of the `kubernetes` Service would name 127.0.0.1, which is refused.
            flags += [
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
            ]
        if self.audit:
            policy = self.workdir / "audit-policy.yaml"
            policy.write_text(yaml.safe_dump(AUDIT_POLICY))
            flags += [
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--audit-log-mode=blocking",
            ]
        component = self._spawn("kube-apiserver", flags)
        self._wait_ready(component, self._apiserver_ready)

    def _apiserver_ready(self) -> bool:
        request = urllib.request.Request(
            f"{self.url}/readyz", headers={"Authorization": f"Bearer {self.pki.admin.token}"}
        )
        with urllib.request.urlopen(request, timeout=3, context=self.ssl_context()) as answer:
            return bool(answer.status == 200)

    def _component_kubeconfig(self, user: pki_files.User) -> Path:
        path = self.workdir / f"{user.name.rsplit(':', 1)[-1]}.kubeconfig"
        return write_kubeconfig(path, kubeconfig(self.url, self.pki.ca_cert, user.name, user.token))

    def _start_controller_manager(self) -> None:
        port = free_port()
        config = self._component_kubeconfig(self.pki.controller_manager)
        component = self._spawn(
            "kube-controller-manager",
            [
                self._binary("kube-controller-manager"),
                f"--kubeconfig={config}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                "--leader-elect=false",
                # Every controller acts under its own ServiceAccount, as kubeadm sets it up.
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={self.pki.service_account_key}",
                f"--root-ca-file={self.pki.ca_cert}",
                f"--horizontal-pod-autoscaler-sync-period={self.hpa_sync_seconds}s",
                # Thousands of pods on two cores: the default 20 requests/s would be the limit.
                "--kube-api-qps=200",
                "--kube-api-burst=400",
                "--profiling=false",
            ],
        )
        self._wait_ready(component, lambda: _https_ok(f"https://127.0.0.1:{port}/healthz"))

    def _start_scheduler(self) -> None:
        port = free_port()
        config = self._component_kubeconfig(self.pki.scheduler)
        component = self._spawn(
            "kube-scheduler",
            [
                self._binary("kube-scheduler"),
                f"--kubeconfig={config}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                "--leader-elect=false",
                "--profiling=false",
            ],
        )
        self._wait_ready(component, lambda: _https_ok(f"https://127.0.0.1:{port}/healthz"))

    def _wait_for_default_service_account(self) -> None:
        """Pods can only be created once their namespace's ServiceAccount exists: wait for the
        controller manager to have made the first one, a sign that it works."""
        request = urllib.request.Request(
            f"{self.url}/api/v1/namespaces/default/serviceaccounts/default",
            headers={"Authorization": f"Bearer {self.pki.admin.token}"},
        )

        def found() -> bool:
            with urllib.request.urlopen(request, timeout=3, context=self.ssl_context()):
                return True

        self._wait_ready(self.components[-1], found)

    def _wait_ready(self, component: Component, check: Any) -> None:
        wait_ready(component, check, START_TIMEOUT)

    # -- what tests read ------------------------------------------------------------------

    def audit_events(self) -> Iterator[dict[str, Any]]:
        """Every audit event written so far (the log is flushed per request: blocking mode)."""
        if not self.audit_log.exists():
            return
        with self.audit_log.open() as lines:
            for line in lines:
                with contextlib.suppress(ValueError):
                    yield json.loads(line)


def _https_ok(url: str) -> bool:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the components' self-signed loopback endpoints
    with urllib.request.urlopen(url, timeout=3, context=context) as answer:
        return bool(answer.status == 200)
