"""Which cluster to talk to, and as whom: the one place that reads kubeconfigs.

Used by the operator (:mod:`.handlers`), by ``llmservice-operator report`` and by the test
kit's playground. The order is kubectl's: an explicit kubeconfig file or context; else the
kubeconfig kubectl would read (``$KUBECONFIG``, else ``~/.kube/config``) when there is one;
else the pod's service account. The operator asks for the service account first
(``in_cluster_first``), as kopf logs in that way: kopf's watches and the operator's own
requests must reach the same API server.

A read-only command never rewrites the user's kubeconfig (``persist_config=False``: token
refreshes stay in memory).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from kubernetes.client.api_client import ApiClient

SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
DEFAULT_NAMESPACE = "default"


class KubeconfigError(Exception):
    """No usable configuration; the message is for the user, as it is."""


@dataclass(frozen=True)
class Connection:
    api_client: ApiClient
    namespace: str  # the context's namespace, the pod's, or "default"


def connect(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    in_cluster_first: bool = False,
    user_agent: str | None = None,
) -> Connection:
    """An API client for the chosen cluster, and the namespace that goes with it."""
    from kubernetes.config.config_exception import ConfigException

    try:
        connection = None
        if in_cluster_first and kubeconfig is None and context is None:
            connection = _in_cluster(required=False)
        if connection is None:
            connection = _from_kubeconfig(kubeconfig, context) or _in_cluster(required=True)
    except ConfigException as exc:
        raise KubeconfigError(f"no usable Kubernetes configuration: {exc}") from None
    except OSError as exc:
        raise KubeconfigError(f"cannot read the kubeconfig: {exc}") from None
    assert connection is not None  # _in_cluster(required=True) answers or raises
    if user_agent is not None:
        connection.api_client.user_agent = user_agent
    return connection


def _from_kubeconfig(path: str | None, context: str | None) -> Connection | None:
    """From the kubeconfig file, or None when there is none to read."""
    from kubernetes import config
    from kubernetes.client.configuration import Configuration

    path = path or os.environ.get("KUBECONFIG") or None
    default = os.path.expanduser(config.KUBE_CONFIG_DEFAULT_LOCATION)
    if path is None and context is None and not os.path.exists(default):
        return None
    configuration = Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=path,
        context=context,
        client_configuration=configuration,
        persist_config=False,
    )
    contexts, active = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
        config_file=path
    )
    if context:
        active = next((c for c in contexts if c.get("name") == context), active)
    namespace = (active or {}).get("context", {}).get("namespace") or DEFAULT_NAMESPACE
    return Connection(ApiClient(configuration), namespace)


def _in_cluster(required: bool) -> Connection | None:
    """From the pod's service account; None outside a pod unless ``required``."""
    from kubernetes import config
    from kubernetes.client.configuration import Configuration

    configuration = Configuration()
    try:
        config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
    except config.ConfigException:
        if required:
            raise
        return None
    namespace = DEFAULT_NAMESPACE
    if os.path.exists(SERVICE_ACCOUNT_NAMESPACE):
        with open(SERVICE_ACCOUNT_NAMESPACE, encoding="utf-8") as f:
            namespace = f.read().strip() or namespace
    return Connection(ApiClient(configuration), namespace)
