"""Certificates, keys and users for a local control plane, made fresh for every start.

- a CA and the API server's serving certificate (loopback and the in-cluster names);
- the service-account key pair (tokens signed by the API server, checked by everyone);
- a front-proxy CA and client certificate, for aggregated APIs (a metrics server);
- static bearer tokens for the users that stand for the components: the administrator
  (``system:masters``), kube-controller-manager, kube-scheduler and kube-proxy (bound by
  the API server's bootstrap RBAC roles), and one per node, simulated or real
  (``system:node:NAME`` in ``system:nodes``, so the Node authorizer and NodeRestriction
  admission apply to them as to any kubelet);
- the client certificate the API server shows a real kubelet (logs, exec), and, on
  request, a kubelet's serving certificate signed by the same CA (the API server checks it).

Elliptic-curve keys: generating them costs milliseconds, where RSA would cost a second.
"""

from __future__ import annotations

import csv
import datetime
import ipaddress
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IN_CLUSTER_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]
    token: str = field(default_factory=lambda: secrets.token_hex(24))


@dataclass(frozen=True)
class Pki:
    """Paths of everything written under one folder."""

    folder: Path
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    service_account_key: Path
    service_account_public: Path
    front_proxy_ca: Path
    front_proxy_cert: Path
    front_proxy_key: Path
    kubelet_client_cert: Path
    kubelet_client_key: Path
    token_file: Path
    admin: User
    controller_manager: User
    scheduler: User
    kube_proxy: User
    nodes: dict[str, User]

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common: str, org: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if org:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(parts)


def _certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server_names: tuple[str, ...] = (),
    server_ips: tuple[str, ...] = (),
    client: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server_names or server_ips else []
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    alternatives: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
    alternatives += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips]
    if alternatives:
        builder = builder.add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


def make(
    folder: Path, node_names: list[str], service_ip: str, server_ips: tuple[str, ...] = ()
) -> Pki:
    """Write a complete set under ``folder`` (created if needed); ``server_ips`` are more
    addresses the API server is reached at (a real node's pods reach it on the host's)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_name = _name("llmservice-testkit-ca")
    ca = _certificate(ca_name, ca_key, None, ca=True)
    serving_key = _key()
    serving = _certificate(
        _name("kube-apiserver"),
        serving_key,
        (ca_name, ca_key),
        server_names=IN_CLUSTER_NAMES,
        server_ips=("127.0.0.1", service_ip, *server_ips),
    )
    proxy_ca_key = _key()
    proxy_ca_name = _name("llmservice-testkit-front-proxy-ca")
    proxy_ca = _certificate(proxy_ca_name, proxy_ca_key, None, ca=True)
    proxy_key = _key()
    proxy = _certificate(
        _name("front-proxy-client"), proxy_key, (proxy_ca_name, proxy_ca_key), client=True
    )
    # The API server's identity towards kubelets; system:masters passes the kubelet's
    # webhook authorization (a SubjectAccessReview) for logs, exec and port-forward.
    kubelet_client_key = _key()
    kubelet_client = _certificate(
        _name("kube-apiserver-kubelet-client", "system:masters"),
        kubelet_client_key,
        (ca_name, ca_key),
        client=True,
    )
    sa_key = _key()
    sa_public = folder / "service-account.pub"
    sa_public.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    admin = User("testkit-admin", ("system:masters",))
    controller_manager = User("system:kube-controller-manager", ())
    scheduler = User("system:kube-scheduler", ())
    kube_proxy = User("system:kube-proxy", ())
    nodes = {n: User(f"system:node:{n}", ("system:nodes",)) for n in node_names}
    token_file = folder / "tokens.csv"
    with token_file.open("w", newline="") as out:
        rows = csv.writer(out)
        for user in (admin, controller_manager, scheduler, kube_proxy, *nodes.values()):
            rows.writerow([user.token, user.name, user.name, ",".join(user.groups)])
    token_file.chmod(0o600)
    _write_key(folder / "ca.key", ca_key)  # a real node's serving certificate is signed later
    return Pki(
        folder=folder,
        ca_cert=_write_cert(folder / "ca.crt", ca),
        serving_cert=_write_cert(folder / "apiserver.crt", serving),
        serving_key=_write_key(folder / "apiserver.key", serving_key),
        service_account_key=_write_key(folder / "service-account.key", sa_key),
        service_account_public=sa_public,
        front_proxy_ca=_write_cert(folder / "front-proxy-ca.crt", proxy_ca),
        front_proxy_cert=_write_cert(folder / "front-proxy-client.crt", proxy),
        front_proxy_key=_write_key(folder / "front-proxy-client.key", proxy_key),
        kubelet_client_cert=_write_cert(folder / "apiserver-kubelet-client.crt", kubelet_client),
        kubelet_client_key=_write_key(folder / "apiserver-kubelet-client.key", kubelet_client_key),
        token_file=token_file,
        admin=admin,
        controller_manager=controller_manager,
        scheduler=scheduler,
        kube_proxy=kube_proxy,
        nodes=nodes,
    )


def serving_certificate(pki: Pki, stem: str, common_name: str, ips: tuple[str, ...]) -> Path:
    """Sign a serving certificate for ``ips`` with the cluster's CA (a real kubelet's, which
    the API server verifies); writes ``stem.crt`` and ``stem.key`` beside the others and
    returns the certificate's path."""
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_name = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes()).subject
    key = _key()
    cert = _certificate(
        _name(common_name), key, (ca_name, ca_key), server_names=(common_name,), server_ips=ips
    )
    _write_key(pki.folder / f"{stem}.key", key)
    return _write_cert(pki.folder / f"{stem}.crt", cert)
