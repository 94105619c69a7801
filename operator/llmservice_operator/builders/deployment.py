"""The Deployment: every pod a chat backend plus its own Ollama, serving one model.

Decisions worth knowing before changing this file:

Ollama runs as a native sidecar (an init container with ``restartPolicy: Always``,
Kubernetes >= 1.29, the oldest version we support). The kubelet starts it, and waits for
its startup probe, before it starts the backend, so the backend never races an Ollama that
is not listening yet; on termination the kubelet stops the backend first and Ollama only
after the backend has exited, so chat streams the backend is still finishing during the
grace period keep their model server. As two plain containers both would get SIGTERM at
once and Ollama would cut the streams. The HPA counts sidecar requests since 1.29 as well.

Ollama listens on 127.0.0.1 only: the backend reaches it over the pod's loopback and
nothing else can, so the Service and the pod expose the backend's port alone. The kubelet
cannot reach a loopback-only port (HTTP and TCP probes connect to the pod IP), so Ollama's
probes exec its own CLI (``ollama list``), which asks the server at ``OLLAMA_HOST`` and
fails when it does not answer. The image ships no curl or wget.

Readiness means "this pod's Ollama has the model, loaded once": the backend pulls and warms
the model at start (per ``pullPolicy``) and its ``/readyz`` succeeds once that is done, then
while Ollama answers and has the model. An idle model Ollama unloads (``keepAlive``) does
not make the pod unready, or every idle pod would leave the Service at once. A startup probe
on ``/readyz`` gives the pull up to :data:`STARTUP_BUDGET_SECONDS` before liveness
(``/healthz``) takes over, and the Deployment's progress deadline is longer than that
budget, so a slow pull is not reported as a failed rollout. A pull that fails for good makes
the backend exit with ``model pull failed: <reason>`` in its termination message (the
kubelet's default path, left unset here), which the status reports as ModelPullFailed.

Pod security follows the "restricted" Pod Security Standard for both containers. The
official Ollama image runs as root by default, but it only needs root to write its home
(``$HOME/.ollama``: the key pair ``ollama serve`` creates at start) and the models
directory. Here it runs as :data:`RUN_AS_USER` with ``HOME`` on an emptyDir, the models on
their own volume (``OLLAMA_MODELS``), ``fsGroup`` making the volumes writable, and a
read-only root filesystem with ``/tmp`` on an emptyDir. One limit remains: a
PersistentVolumeClaim whose volume type ignores ``fsGroup`` (NFS and most RWX storage)
must itself be writable by group :data:`RUN_AS_GROUP`; the kubelet cannot fix that.

Updates replace pods without dropping below the desired count (a new pod must be Ready,
model loaded, before an old one goes) wherever that can work: ``maxSurge 1`` and
``maxUnavailable 0``. Two cases cannot work that way, see :func:`update_strategy`: a model
claim only one node or pod may mount (the surge pod would wait for ever for a
ReadWriteOncePod claim, or hit Multi-Attach for a ReadWriteOnce one on another node), which
gets ``Recreate``; and GPUs, where the surge pod needs a spare GPU the cluster may not have,
so several GPU pods are replaced one at a time (``maxSurge 0``, ``maxUnavailable 1``).

User environment variables are merged by name, and the user's wins: ``backend.env`` and
``ollama.env`` are the escape hatch for tuning (``OLLAMA_FLASH_ATTENTION``,
``OLLAMA_CONTEXT_LENGTH``) and for overriding our own values. A duplicate name would
otherwise be rejected by server-side apply (env is a map keyed by name).
"""

from __future__ import annotations

import copy
from typing import Any

from llmservice_operator.api import naming
from llmservice_operator.api.models import OLLAMA_PORT, EnvVar, LLMService, ResourceRequirements
from llmservice_operator.builders.meta import object_meta
from llmservice_operator.builders.spread import spread_constraints
from llmservice_operator.builders.storage import model_claim_name

BACKEND_PORT_NAME = "http"
# The backend serves /metrics on a port of its own, which the Service does not expose
# (scrapers reach the pod directly); another one when the backend itself takes 9090.
METRICS_PORT_NAME = "metrics"
METRICS_PORT = 9090
METRICS_PORT_ALTERNATIVE = 9091
OLLAMA_ADDRESS = f"127.0.0.1:{OLLAMA_PORT}"
OLLAMA_URL = f"http://{OLLAMA_ADDRESS}"

# Paths inside the containers.
MODELS_PATH = "/models"
OLLAMA_HOME = "/home/ollama"
TMP_PATH = "/tmp"  # an emptyDir of the pod's own

# Volumes besides naming.MODEL_VOLUME.
OLLAMA_HOME_VOLUME = "ollama-home"
OLLAMA_TMP_VOLUME = "ollama-tmp"
BACKEND_TMP_VOLUME = "backend-tmp"

# The user and group both containers run as, set on the pod so runAsNonRoot can be checked
# whatever user an image declares: the backend image's own user (backend_image/Dockerfile).
# Ollama's image has no such user and needs none, since HOME is set for it.
RUN_AS_USER = 65532
RUN_AS_GROUP = 65532

# How long a pod may take to pull and load its model before the kubelet restarts the
# backend (and the pull is retried): 30 minutes covers a few GB on a slow link.
STARTUP_PERIOD_SECONDS = 5
STARTUP_BUDGET_SECONDS = 30 * 60
# Longer than the startup budget so a slow pull is Progressing, not ProgressDeadlineExceeded.
PROGRESS_DEADLINE_SECONDS = STARTUP_BUDGET_SECONDS + 5 * 60

# The preStop pause: time for the endpoint removal to reach every kube-proxy and ingress
# before the backend stops accepting connections; capped by a quarter of the grace period.
PRESTOP_SECONDS = 10
# Left between the backend's own drain deadline and the kubelet's SIGKILL.
SHUTDOWN_MARGIN_SECONDS = 5

HOME_SIZE_LIMIT = "64Mi"
OLLAMA_TMP_SIZE_LIMIT = "1Gi"
BACKEND_TMP_SIZE_LIMIT = "256Mi"


def prestop_seconds(grace: int) -> int:
    """The preStop pause for a pod with ``grace`` seconds of termination grace."""
    return min(PRESTOP_SECONDS, grace // 4)


def shutdown_grace_seconds(grace: int) -> int:
    """The backend's drain budget after SIGTERM: the grace period less the preStop pause
    (which the kubelet counts against the same grace period) and a margin before SIGKILL.
    """
    margin = min(SHUTDOWN_MARGIN_SECONDS, grace // 10)
    return max(1, grace - prestop_seconds(grace) - margin)


def _env(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def merge_env(ours: list[dict[str, Any]], user: list[EnvVar]) -> list[dict[str, Any]]:
    """Our variables, each replaced in place by the user's of the same name, then the
    user's other variables in their order. Names are unique in the result."""
    user_vars = {var.name: var.to_api() for var in user}
    merged = [user_vars.pop(var["name"], var) for var in ours]
    merged.extend(user_vars.values())
    return merged


def _resources(requirements: ResourceRequirements) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if requirements.requests:
        out["requests"] = dict(requirements.requests)
    if requirements.limits:
        out["limits"] = dict(requirements.limits)
    return out


def container_security_context() -> dict[str, Any]:
    """Restricted: no privilege escalation, no capabilities, read-only root filesystem."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context() -> dict[str, Any]:
    """Non-root for every container; ``fsGroup`` makes the volumes writable for it."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_GROUP,
        "fsGroup": RUN_AS_GROUP,
        # Re-own a large model volume only when its root is not ours already, so a pod
        # does not walk gigabytes of model files on every start.
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def metrics_port(backend_port: int) -> int:
    return METRICS_PORT if backend_port != METRICS_PORT else METRICS_PORT_ALTERNATIVE


def _backend_env(service: LLMService) -> list[dict[str, Any]]:
    spec = service.spec
    backend = spec.backend
    ours = [
        _env("OLLAMA_URL", OLLAMA_URL),
        _env("MODEL_NAME", spec.model.name),
        _env("MODEL_PULL_POLICY", spec.model.pull_policy),
        _env("MODEL_KEEP_ALIVE", spec.model.keep_alive),
        _env("BACKEND_PORT", str(backend.port)),
        _env("METRICS_PORT", str(metrics_port(backend.port))),
        _env("MAX_CONCURRENT_REQUESTS", str(backend.max_concurrent_requests)),
        _env("MAX_QUEUED_REQUESTS", str(backend.max_queued_requests)),
        _env("QUEUE_TIMEOUT_SECONDS", str(backend.timeouts.queue_seconds)),
        _env("FIRST_TOKEN_TIMEOUT_SECONDS", str(backend.timeouts.first_token_seconds)),
        _env("STREAM_IDLE_TIMEOUT_SECONDS", str(backend.timeouts.stream_idle_seconds)),
        _env("REQUEST_TIMEOUT_SECONDS", str(backend.timeouts.request_seconds)),
        _env(
            "SHUTDOWN_GRACE_SECONDS",
            str(shutdown_grace_seconds(spec.pod.termination_grace_period_seconds)),
        ),
    ]
    if backend.api_key_secret_ref is not None:
        ours.append(
            {
                "name": "API_KEY",
                "valueFrom": {
                    "secretKeyRef": {
                        "name": backend.api_key_secret_ref.name,
                        "key": backend.api_key_secret_ref.key,
                    }
                },
            }
        )
    return merge_env(ours, backend.env)


def _ollama_env(service: LLMService) -> list[dict[str, Any]]:
    spec = service.spec
    ours = [
        _env("OLLAMA_HOST", OLLAMA_ADDRESS),
        _env("OLLAMA_MODELS", MODELS_PATH),
        _env("OLLAMA_NUM_PARALLEL", str(spec.ollama.num_parallel)),
        _env("OLLAMA_KEEP_ALIVE", spec.model.keep_alive),
        # One model per pod: never keep a second one in memory beside it.
        _env("OLLAMA_MAX_LOADED_MODELS", "1"),
        _env("HOME", OLLAMA_HOME),
    ]
    if spec.model.storage.type == "PersistentVolumeClaim":
        # Ollama prunes blobs no manifest names at start; on a claim shared by several
        # pods that could delete the blob another pod is still downloading.
        ours.append(_env("OLLAMA_NOPRUNE", "1"))
    return merge_env(ours, spec.ollama.env)


def _http_probe(path: str, period: int, timeout: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": BACKEND_PORT_NAME, "scheme": "HTTP"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def _ollama_probe(period: int, timeout: int, failures: int) -> dict[str, Any]:
    return {
        "exec": {"command": ["ollama", "list"]},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def build_backend_container(service: LLMService) -> dict[str, Any]:
    """The backend: the only container with a port outside the pod."""
    backend = service.spec.backend
    grace = service.spec.pod.termination_grace_period_seconds
    container: dict[str, Any] = {
        "name": naming.BACKEND_CONTAINER,
        "image": backend.image,
        "imagePullPolicy": backend.image_pull_policy,
        "ports": [
            {"name": BACKEND_PORT_NAME, "containerPort": backend.port, "protocol": "TCP"},
            {
                "name": METRICS_PORT_NAME,
                "containerPort": metrics_port(backend.port),
                "protocol": "TCP",
            },
        ],
        "env": _backend_env(service),
        "resources": _resources(backend.resources),
        "volumeMounts": [{"name": BACKEND_TMP_VOLUME, "mountPath": TMP_PATH}],
        "securityContext": container_security_context(),
        # /readyz succeeds once the model is pulled and warmed; until then liveness waits.
        "startupProbe": _http_probe(
            "/readyz",
            period=STARTUP_PERIOD_SECONDS,
            timeout=3,
            failures=STARTUP_BUDGET_SECONDS // STARTUP_PERIOD_SECONDS,
        ),
        "readinessProbe": _http_probe("/readyz", period=5, timeout=3, failures=2),
        "livenessProbe": _http_probe("/healthz", period=10, timeout=5, failures=3),
    }
    pause = prestop_seconds(grace)
    if pause > 0:
        # Keep serving while the endpoint removal propagates; SIGTERM (drain) comes after.
        # An exec of sleep rather than the sleep action, which is beta only from 1.30.
        container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(pause)]}}}
    return container


def build_ollama_container(service: LLMService) -> dict[str, Any]:
    """Ollama as a native sidecar: started before the backend, stopped after it."""
    spec = service.spec
    resources = _resources(spec.ollama.resources)
    if spec.gpu.count > 0:
        # Extended resources are requested through limits (requests default to them).
        resources.setdefault("limits", {})[spec.gpu.resource_name] = str(spec.gpu.count)
    return {
        "name": naming.OLLAMA_CONTAINER,
        "image": spec.ollama.image,
        "imagePullPolicy": spec.ollama.image_pull_policy,
        "restartPolicy": "Always",
        "args": ["serve"],
        "env": _ollama_env(service),
        "resources": resources,
        "volumeMounts": [
            {"name": naming.MODEL_VOLUME, "mountPath": MODELS_PATH},
            {"name": OLLAMA_HOME_VOLUME, "mountPath": OLLAMA_HOME},
            {"name": OLLAMA_TMP_VOLUME, "mountPath": TMP_PATH},
        ],
        "securityContext": container_security_context(),
        # The backend starts once this succeeds: Ollama answers on loopback.
        "startupProbe": _ollama_probe(period=2, timeout=5, failures=60),
        "readinessProbe": _ollama_probe(period=10, timeout=5, failures=3),
        "livenessProbe": _ollama_probe(period=20, timeout=10, failures=3),
    }


def _model_volume(service: LLMService) -> dict[str, Any]:
    storage = service.spec.model.storage
    if storage.type == "PersistentVolumeClaim":
        return {
            "name": naming.MODEL_VOLUME,
            "persistentVolumeClaim": {"claimName": model_claim_name(service)},
        }
    empty_dir: dict[str, Any] = {}
    if storage.size is not None:
        empty_dir["sizeLimit"] = storage.size
    return {"name": naming.MODEL_VOLUME, "emptyDir": empty_dir}


def _volumes(service: LLMService) -> list[dict[str, Any]]:
    return [
        _model_volume(service),
        {"name": OLLAMA_HOME_VOLUME, "emptyDir": {"sizeLimit": HOME_SIZE_LIMIT}},
        {"name": OLLAMA_TMP_VOLUME, "emptyDir": {"sizeLimit": OLLAMA_TMP_SIZE_LIMIT}},
        {"name": BACKEND_TMP_VOLUME, "emptyDir": {"sizeLimit": BACKEND_TMP_SIZE_LIMIT}},
    ]


def build_pod_template(service: LLMService) -> dict[str, Any]:
    """The pod template: our containers and volumes, the user's scheduling settings."""
    name = service.metadata.name
    pod = service.spec.pod
    metadata: dict[str, Any] = {"labels": {**pod.labels, **naming.common_labels(name)}}
    annotations = {"kubectl.kubernetes.io/default-container": naming.BACKEND_CONTAINER}
    annotations.update(pod.annotations)
    metadata["annotations"] = annotations

    spec: dict[str, Any] = {
        "initContainers": [build_ollama_container(service)],
        "containers": [build_backend_container(service)],
        "volumes": _volumes(service),
        "securityContext": pod_security_context(),
        "terminationGracePeriodSeconds": pod.termination_grace_period_seconds,
        # The pods never call the Kubernetes API, and service links would put every
        # Service of the namespace into the environment (a Service named "ollama" would
        # set OLLAMA_PORT in Ollama's).
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
    }
    if pod.service_account_name is not None:
        spec["serviceAccountName"] = pod.service_account_name
    if pod.node_selector:
        spec["nodeSelector"] = dict(pod.node_selector)
    if pod.tolerations:
        spec["tolerations"] = [t.to_api() for t in pod.tolerations]
    if pod.affinity is not None:
        spec["affinity"] = pod.affinity.to_api()
    spread = spread_constraints(service)
    if spread:
        spec["topologySpreadConstraints"] = spread
    if pod.runtime_class_name is not None:
        spec["runtimeClassName"] = pod.runtime_class_name
    if pod.priority_class_name is not None:
        spec["priorityClassName"] = pod.priority_class_name
    if pod.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s.name} for s in pod.image_pull_secrets]
    return {"metadata": metadata, "spec": spec}


SURGE_STRATEGY: dict[str, Any] = {
    "type": "RollingUpdate",
    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
}
ONE_AT_A_TIME_STRATEGY: dict[str, Any] = {
    "type": "RollingUpdate",
    "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
}
RECREATE_STRATEGY: dict[str, Any] = {"type": "Recreate"}


def single_attach_claim(service: LLMService) -> bool:
    """Whether the model claim may be mounted by one node (or pod) at a time only.

    A claim the operator creates has the declared access mode. An existing claim's mode is
    not known here: it counts as single-attach unless the user declares ReadWriteMany in
    ``accessMode``, since guessing wrong the other way jams every rollout.
    """
    storage = service.spec.model.storage
    return storage.type == "PersistentVolumeClaim" and storage.access_mode != "ReadWriteMany"


def update_strategy(service: LLMService) -> dict[str, Any]:
    """How a rollout replaces pods.

    - A single-attach model claim: ``Recreate``. With a surge the new pod could never start
      while the old one holds the claim (ReadWriteOncePod), or would fail with Multi-Attach
      when scheduled to another node (ReadWriteOnce). Such a service runs one pod (the CRD
      enforces that for claims the operator creates), so an update has a short outage.
    - GPUs with possibly more than one pod: ``maxSurge 0, maxUnavailable 1``. A surge pod
      needs a spare GPU, which GPU nodes rarely have, and would stay Pending; replacing
      one pod at a time costs one pod of capacity during the rollout instead. A single GPU
      pod keeps the surge: without a spare GPU the new pod waits and the old one keeps
      serving (the Deployment's progress deadline reports the stall), which beats an outage.
    - Otherwise a new pod is Ready before an old one goes (``maxSurge 1``,
      ``maxUnavailable 0``).
    """
    spec = service.spec
    if single_attach_claim(service):
        return copy.deepcopy(RECREATE_STRATEGY)
    most_pods = spec.autoscaling.max_replicas if spec.autoscaling.enabled else spec.replicas
    if spec.gpu.count > 0 and most_pods > 1:
        return copy.deepcopy(ONE_AT_A_TIME_STRATEGY)
    return copy.deepcopy(SURGE_STRATEGY)


def build_deployment(service: LLMService) -> dict[str, Any]:
    """The Deployment. No ``replicas`` while autoscaling is on: the HPA owns that field,
    and an applied value would fight it on every reconcile."""
    name = service.metadata.name
    spec: dict[str, Any] = {}
    if not service.spec.autoscaling.enabled:
        spec["replicas"] = service.spec.replicas
    spec.update(
        {
            "selector": {"matchLabels": naming.selector_labels(name)},
            "strategy": update_strategy(service),
            "progressDeadlineSeconds": PROGRESS_DEADLINE_SECONDS,
            "revisionHistoryLimit": 5,
            "template": build_pod_template(service),
        }
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(service, naming.deployment_name(name)),
        "spec": spec,
    }
