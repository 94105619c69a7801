"""The LLMService API (``llmservice.dev/v1alpha1``) as pydantic models.

These models are the single contract of the project: the CRD is generated from them
(``crd.py``), the operator reads every LLMService through them, the builders read them, and
``render`` validates user files with them. Field descriptions end up in the CRD, so
``kubectl explain llmservice.spec.model`` prints them; keep them written for users.

The defaults are the models' own, and the CRD carries the same ones (a test compares the
API server's defaulting with the models'): an object read here is what the API server would
store. A null is read as the API server reads it: dropped where the field cannot be null,
so its default applies (``replicas: null`` is 2), kept where it can (``size: null``).

Cross-field rules (``minReplicas <= maxReplicas`` and the like) are not here: they live as
CEL expressions in ``rules.py`` so that the API server and ``render`` enforce the very same
rule text.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

API_GROUP = "llmservice.dev"
API_VERSION = "v1alpha1"
GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"
KIND = "LLMService"
PLURAL = "llmservices"
SINGULAR = "llmservice"
SHORT_NAMES = ["llms"]

# Pinned images. The Ollama tag is pinned so that a pod restart never silently changes the
# model server; bump it deliberately.
DEFAULT_OLLAMA_IMAGE = "ollama/ollama:0.12.6"
DEFAULT_BACKEND_IMAGE = "ghcr.io/llmservice-operator/llmservice-backend:0.1.0"
OLLAMA_PORT = 11434

# Kubernetes' quantity grammar (resource.Quantity) without its minus sign: every quantity
# here is an amount of a resource or a size, which the API server refuses below zero, so a
# bad "2Gb" or "-1" is refused at apply rather than when the Deployment is written.
_QUANTITY_SUFFIX = r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?"
QUANTITY_PATTERN = rf"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+)){_QUANTITY_SUFFIX}$"
# The same above zero (a digit other than 0 somewhere before the suffix): a volume size.
POSITIVE_QUANTITY_PATTERN = (
    rf"^\+?(([0-9]*[1-9][0-9]*(\.[0-9]*)?)|(0*\.[0-9]*[1-9][0-9]*)){_QUANTITY_SUFFIX}$"
)
# Ollama model references: [host[:port]/][namespace/]model[:tag], e.g. "tinyllama",
# "llama3.2:1b", "hf.co/bartowski/SmolLM2-135M-Instruct-GGUF:Q4_K_M".
MODEL_NAME_PATTERN = (
    r"^[A-Za-z0-9][A-Za-z0-9._-]*(:[0-9]+)?(/[A-Za-z0-9][A-Za-z0-9._-]*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?$"
)
# Ollama's keep_alive: a Go duration ("5m", "1h30m", "-1s"), a number of seconds, or -1.
KEEP_ALIVE_PATTERN = r"^-?(([0-9]+(\.[0-9]+)?)|([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+)$"
# An extended resource name such as nvidia.com/gpu or amd.com/gpu: a domain, "/", a name.
# Without a domain it would be a standard resource name, which the API server refuses for
# anything but cpu, memory, ephemeral-storage and hugepages.
RESOURCE_NAME_PATTERN = (
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
# DNS-1123 label / subdomain, for object names we reference.
DNS1123_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# The LLMService name becomes the Service name, which must be a DNS-1035 label.
DNS1035_LABEL_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
# A namespace is a DNS-1123 label.
DNS1123_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# A key in a Secret's data.
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
# Label and annotation keys (qualified names): an optional DNS-1123 subdomain prefix and
# "/", then a name of at most 63 characters. These patterns say "[.]" rather than an escaped
# dot, so that the same text works inside the CEL string literals of rules.py.
_NAME_63 = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_DNS_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
QUALIFIED_NAME_PATTERN = rf"^({_DNS_PREFIX}/)?{_NAME_63}$"
# A container resource name: a standard one, or an extended one, which needs a domain.
CONTAINER_RESOURCE_NAME_PATTERN = (
    rf"^(cpu|memory|ephemeral-storage|hugepages-[A-Za-z0-9.]+|{_DNS_PREFIX}/{_NAME_63})$"
)
QUALIFIED_NAME_MAX_LENGTH = 317  # a 253-character prefix, "/", a 63-character name
KEY_PREFIX_MAX_LENGTH = 253
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
LABEL_VALUE_MAX_LENGTH = 63
# Most entries in each map of labels, annotations or node labels: bounds what the CEL rules
# on their keys may cost the API server.
MAX_MAP_ENTRIES = 32
# The API server refuses an object whose annotations (keys and values, in bytes) exceed
# 256 KiB. The operator adds its own to the pod template and the Service (a default
# container, a spec hash): 1 KiB is kept for them.
ANNOTATIONS_MAX_BYTES = 256 * 1024 - 1024
# An image reference: [host[:port]/]path[:tag][@digest], the path in lowercase as
# registries require. No whitespace anywhere: the API server refuses a pod whose image has
# it at either end, and the kubelet cannot pull one with it inside.
_IMAGE_HOST = (
    r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?([.][A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*(:[0-9]+)?"
)
_IMAGE_PATH = r"[a-z0-9]+(([.]|_|__|-+)[a-z0-9]+)*"
IMAGE_PATTERN = (
    rf"^({_IMAGE_HOST}/)?{_IMAGE_PATH}(/{_IMAGE_PATH})*(:[A-Za-z0-9_][-A-Za-z0-9_.]{{0,127}})?"
    r"(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
# A toleration key: a qualified name, or empty (which, with operator Exists, matches every
# taint).
TOLERATION_KEY_PATTERN = rf"^(({_DNS_PREFIX}/)?{_NAME_63})?$"
# The pod fields an environment variable can read (the downward API for containers).
FIELD_PATH_PATTERN = (
    r"^(metadata[.](name|namespace|uid)|spec[.](nodeName|serviceAccountName)"
    r"|status[.](hostIP|hostIPs|podIP|podIPs)"
    rf"|metadata[.](labels|annotations)\['({_DNS_PREFIX}/)?{_NAME_63}'\])$"
)
# The container resources an environment variable can read.
RESOURCE_FIELD_PATTERN = (
    r"^(limits|requests)[.](cpu|memory|ephemeral-storage|hugepages-[A-Za-z0-9.]+)$"
)
KEY_PREFIX_ERROR = "key_prefix_too_long"
# Measured on kube-apiserver 1.37 with kubectl 1.32: client-side `kubectl apply` drops null
# fields from the object it sends (on create and on update alike), so the default returns.
NULL_NEEDS_SERVER_SIDE = (
    "a null reaches the API server with kubectl apply --server-side, kubectl create or "
    "kubectl replace; client-side kubectl apply drops it and the default returns."
)


QUANTITY_FLOAT_ERROR = "quantity_float"


def _float_hint(value: float) -> str:
    millis = value * 1000
    example = f"{round(millis)}m" if millis >= 1 and millis == round(millis) else "500m"
    return (
        f'must be a string or an integer, not the number {value!r}: quote it ("{value!r}") '
        f'or use millicores ("{example}")'
    )


def _quantity_to_str(value: Any) -> Any:
    """YAML turns ``cpu: 1`` into an int; Kubernetes accepts that, so do we.

    Not a float: the field is int-or-string and the API server refuses ``cpu: 0.5``
    unquoted ("must be of type integer,string"). Integral floats (``2.0``) never get here
    from ``parse_llmservice``, which reads them as integers as the API server does.
    """
    if isinstance(value, bool):
        return value  # let validation reject it: True is not a quantity
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise PydanticCustomError(QUANTITY_FLOAT_ERROR, _float_hint(value))
    return value


def _quantity_field(pattern: str, minimum: int) -> Any:
    """The constraints of an int-or-string quantity field: ``minimum`` bounds the integer
    form, ``pattern`` the text form (the API server applies each to its own form)."""
    return Field(
        pattern=pattern,
        max_length=64,
        # pydantic drops the string constraints from a validator-wrapped type's JSON
        # schema; the CRD needs them.
        json_schema_extra={
            "x-kubernetes-int-or-string": True,
            "minimum": minimum,
            "pattern": pattern,
            "maxLength": 64,
        },
    )


# An amount of a resource: zero or more.
Quantity = Annotated[
    str, BeforeValidator(_quantity_to_str), _quantity_field(QUANTITY_PATTERN, minimum=0)
]
# A volume size: more than zero.
PositiveQuantity = Annotated[
    str, BeforeValidator(_quantity_to_str), _quantity_field(POSITIVE_QUANTITY_PATTERN, minimum=1)
]


def _prefix_fits(key: str) -> str:
    """The part before "/" of a qualified name is a DNS subdomain: 253 characters at most."""
    if key.find("/") > KEY_PREFIX_MAX_LENGTH:
        raise PydanticCustomError(
            KEY_PREFIX_ERROR,
            f"the prefix before / must be at most {KEY_PREFIX_MAX_LENGTH} characters",
        )
    return key


# The key types: checked here for render and the operator; in the CRD by the key rules of
# rules.py, since a structural schema cannot constrain map keys.
QualifiedName = Annotated[
    str,
    Field(pattern=QUALIFIED_NAME_PATTERN, max_length=QUALIFIED_NAME_MAX_LENGTH),
    AfterValidator(_prefix_fits),
]
ContainerResourceName = Annotated[
    str,
    Field(pattern=CONTAINER_RESOURCE_NAME_PATTERN, max_length=QUALIFIED_NAME_MAX_LENGTH),
    AfterValidator(_prefix_fits),
]
LabelValue = Annotated[str, Field(pattern=LABEL_VALUE_PATTERN, max_length=LABEL_VALUE_MAX_LENGTH)]
# Names of objects in the cluster (ServiceAccount, PriorityClass, RuntimeClass, Secret,
# StorageClass): the API server refuses a pod or claim naming anything else.
ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS1123_SUBDOMAIN_PATTERN)]

QualifiedNameField = Annotated[
    str,
    Field(pattern=QUALIFIED_NAME_PATTERN, max_length=QUALIFIED_NAME_MAX_LENGTH),
    AfterValidator(_prefix_fits),
]
DNS1123Label = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS1123_LABEL_PATTERN)]
ImageReference = Annotated[str, Field(min_length=1, max_length=512, pattern=IMAGE_PATTERN)]
AnnotationValue = Annotated[str, Field(max_length=ANNOTATIONS_MAX_BYTES)]


ANNOTATIONS_SIZE_ERROR = "annotations_too_large"


def _annotations_fit(annotations: dict[str, str]) -> dict[str, str]:
    """The annotations' keys and values, in bytes, fit in what the API server allows."""
    size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if size > ANNOTATIONS_MAX_BYTES:
        raise PydanticCustomError(
            ANNOTATIONS_SIZE_ERROR,
            f"the annotations take {size} bytes (keys and values); at most "
            f"{ANNOTATIONS_MAX_BYTES} are allowed",
        )
    return annotations


Annotations = Annotated[
    dict[QualifiedName, AnnotationValue],
    Field(max_length=MAX_MAP_ENTRIES),
    AfterValidator(_annotations_fit),
]


class _Model(BaseModel):
    """Base: camelCase on the wire, unknown fields rejected (the CRD prunes them anyway)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_default=True,
    )

    def to_api(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase keys, unset optionals dropped."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")

    @model_validator(mode="before")
    @classmethod
    def _nulls_as_unset(cls, data: Any) -> Any:
        """Drop nulls from fields that cannot be null, as the API server prunes them before
        defaulting: the field's default applies instead."""
        if not isinstance(data, Mapping):
            return data
        never_null = _never_null(cls)
        if not any(value is None and key in never_null for key, value in data.items()):
            return data
        return {k: v for k, v in data.items() if not (v is None and k in never_null)}


@functools.cache
def _never_null(model: type[BaseModel]) -> frozenset[str]:
    """The names and aliases of a model's fields whose type does not admit None."""
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if annotation is None or annotation is types.NoneType:
            continue
        if types.NoneType in typing.get_args(annotation):
            continue
        keys.add(name)
        if info.alias:
            keys.add(info.alias)
    return frozenset(keys)


# --------------------------------------------------------------------------------------
# spec


class ModelStorage(_Model):
    """Where the pod keeps the model files Ollama pulls."""

    type: Literal["EmptyDir", "PersistentVolumeClaim"] = Field(
        "EmptyDir",
        description=(
            "EmptyDir pulls the model into each pod's own scratch volume (simple, no storage "
            "class needed, pulled again whenever a pod starts). PersistentVolumeClaim keeps "
            "the models across pod restarts in a claim, either an existing one (claimName) "
            "or one the operator creates (size)."
        ),
    )
    size: PositiveQuantity | None = Field(
        "10Gi",
        description=(
            "Size of the model volume: the EmptyDir size limit, or the size of the claim the "
            "operator creates for PersistentVolumeClaim storage. TinyLlama needs about 640Mi. "
            "Set to null for an EmptyDir without a size limit (omitting it gives 10Gi); "
            f"{NULL_NEEDS_SERVER_SIDE}"
        ),
    )
    storage_class_name: ObjectName | None = Field(
        None,
        description=(
            "Storage class of the claim the operator creates; unset uses the cluster's "
            "default storage class."
        ),
    )
    claim_name: str | None = Field(
        None,
        pattern=DNS1123_SUBDOMAIN_PATTERN,
        max_length=253,
        description=(
            "Name of an existing PersistentVolumeClaim in the same namespace to mount instead "
            "of creating one. The operator never deletes a claim it did not create."
        ),
    )
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"] = Field(
        "ReadWriteOnce",
        description=(
            "Access mode of the claim the operator creates. Every replica mounts the same "
            "claim, so more than one replica needs ReadWriteMany. Anything but ReadWriteMany "
            "makes updates Recreate (the old pod stops before the new one starts: a short "
            "outage), since a second pod could not mount the claim. With claimName, set this "
            "to the existing claim's mode: its mode is not known otherwise, so updates "
            "Recreate unless this says ReadWriteMany."
        ),
    )


class ModelSpec(_Model):
    """The model Ollama serves."""

    name: str = Field(
        "tinyllama",
        min_length=1,
        max_length=255,
        pattern=MODEL_NAME_PATTERN,
        description=(
            "Ollama model reference, name[:tag], as `ollama pull` takes it "
            "(tinyllama, llama3.2:1b, hf.co/owner/repo:quant)."
        ),
    )
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent",
        description=(
            "When each pod pulls the model before it becomes Ready: Always pulls on every "
            "pod start (picks up a moved tag), IfNotPresent only when the model volume lacks "
            "it, Never expects it on the volume already (a pod without it never gets Ready)."
        ),
    )
    keep_alive: str = Field(
        "-1",
        pattern=KEEP_ALIVE_PATTERN,
        description=(
            "How long Ollama keeps the model loaded after a request, as Ollama's keep_alive: "
            "a duration (5m, 1h) or -1 to keep it loaded for ever (the default: a chat "
            "service should not pay the load time again). Readiness does not depend on it: "
            "a pod is Ready once its model is pulled and loaded at start, and stays Ready "
            "while the model is present, so an idle pod whose model Ollama unloaded keeps "
            "serving and the next request pays the load time."
        ),
    )
    storage: ModelStorage = Field(
        default_factory=ModelStorage,
        description="The volume that holds the model files.",
    )


# --------------------------------------------------------------------------------------
# autoscaling: what the autoscaler scales on, and how fast

# The custom metrics the optional prometheus-adapter overlay (deploy/prometheus-adapter/)
# serves for each pod, from the backend's gauges of the same names.
IN_FLIGHT_METRIC = "llmservice_backend_upstream_in_flight_requests"
QUEUED_METRIC = "llmservice_backend_queue_depth"
ScalingMetricType = Literal["CPU", "Memory", "InFlightRequests", "QueuedRequests"]
# Resource metrics, measured against the pods' requests, in percent.
UTILIZATION_METRICS = ("CPU", "Memory")
# Per-pod custom metrics (HPA "Pods" metrics), averaged over the service's pods.
PER_POD_METRICS = ("InFlightRequests", "QueuedRequests")
DEFAULT_METRIC_NAMES = {"InFlightRequests": IN_FLIGHT_METRIC, "QueuedRequests": QUEUED_METRIC}
# A Prometheus/custom-metrics metric name.
METRIC_NAME_PATTERN = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"


class ScalingMetric(_Model):
    """One signal the autoscaler scales on, with its target."""

    type: ScalingMetricType = Field(
        ...,
        description=(
            "CPU or Memory: average use in percent of the pods' requests (resource metrics, "
            "from metrics-server). InFlightRequests: chat requests a pod is generating at "
            "once (the backend's llmservice_backend_upstream_in_flight_requests); "
            "QueuedRequests: chat requests a pod holds waiting for a slot "
            "(llmservice_backend_queue_depth). The last two are per-pod custom metrics, "
            "served by the custom metrics API (prometheus-adapter with the rules in "
            "deploy/prometheus-adapter/)."
        ),
    )
    target_utilization_percentage: int | None = Field(
        None,
        ge=1,
        le=1000,
        description=(
            "For CPU and Memory (required there, refused elsewhere): the average use, in "
            "percent of the pods' requests, the autoscaler aims for."
        ),
    )
    target_average_value: int | None = Field(
        None,
        ge=1,
        le=10000,
        description=(
            "For InFlightRequests and QueuedRequests (required there, refused elsewhere): "
            "the average per pod the autoscaler aims for. InFlightRequests can never exceed "
            "spec.backend.maxConcurrentRequests and QueuedRequests never "
            "spec.backend.maxQueuedRequests, so a target above them is refused: the "
            "autoscaler would never scale up."
        ),
    )
    metric_name: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=METRIC_NAME_PATTERN,
        description=(
            "For InFlightRequests and QueuedRequests: the custom metric's name in the "
            "custom metrics API, when an adapter serves it under another name than the "
            "backend's (llmservice_backend_upstream_in_flight_requests, "
            "llmservice_backend_queue_depth)."
        ),
    )

    def effective_metric_name(self) -> str:
        """The custom metric the HPA asks for (per-pod types only)."""
        return self.metric_name or DEFAULT_METRIC_NAMES[self.type]


class ScalingPolicy(_Model):
    """How much the count may change within a period, as in the HPA's scaling policies."""

    type: Literal["Pods", "Percent"] = Field(
        ..., description="Pods: a number of pods; Percent: a share of the current pods."
    )
    value: int = Field(..., ge=1, le=1000, description="How many pods, or what percent.")
    period_seconds: int = Field(
        ...,
        ge=1,
        le=1800,
        description="The window (1 to 1800 s) the change is counted over.",
    )


def _scale_up_policies() -> list[ScalingPolicy]:
    return [
        ScalingPolicy(type="Pods", value=2, period_seconds=60),
        ScalingPolicy(type="Percent", value=100, period_seconds=60),
    ]


def _scale_down_policies() -> list[ScalingPolicy]:
    return [ScalingPolicy(type="Pods", value=1, period_seconds=60)]


class ScaleUpRules(_Model):
    """How the autoscaler adds pods."""

    stabilization_window_seconds: int = Field(
        0,
        ge=0,
        le=3600,
        description=(
            "How long a higher count must be wanted before pods are added (the lowest "
            "recommendation of the window wins). 0: at once, since a new pod needs minutes "
            "(model pull and load) before it serves and any delay adds to that."
        ),
    )
    select_policy: Literal["Max", "Min", "Disabled"] = Field(
        "Max",
        description="Which policy's limit applies when several do; Disabled adds no pods.",
    )
    policies: list[ScalingPolicy] = Field(
        default_factory=_scale_up_policies,
        min_length=1,
        max_length=10,
        description=(
            "Most pods added per period. Default: 2 pods or 100 % of the current count "
            "(whichever is more) per minute, so a burst is answered within a minute or two "
            "without ordering many pods that would all still be loading their model when "
            "the autoscaler looks again."
        ),
    )


class ScaleDownRules(_Model):
    """How the autoscaler removes pods."""

    stabilization_window_seconds: int | None = Field(
        None,
        ge=0,
        le=3600,
        description=(
            "How long a lower count must be wanted before pods are removed (the highest "
            "recommendation of the window wins). Unset: spec.autoscaling."
            "scaleDownStabilizationSeconds (300 by default) applies."
        ),
    )
    select_policy: Literal["Max", "Min", "Disabled"] = Field(
        "Max",
        description="Which policy's limit applies when several do; Disabled removes no pods.",
    )
    policies: list[ScalingPolicy] = Field(
        default_factory=_scale_down_policies,
        min_length=1,
        max_length=10,
        description=(
            "Most pods removed per period. Default: 1 pod per minute: a pod removed in a "
            "lull costs minutes to bring back, so the count comes down one pod at a time."
        ),
    )


class ScalingBehavior(_Model):
    """How fast the autoscaler adds and removes pods (the HPA's behavior)."""

    scale_up: ScaleUpRules = Field(
        default_factory=ScaleUpRules, description="How the autoscaler adds pods."
    )
    scale_down: ScaleDownRules = Field(
        default_factory=ScaleDownRules, description="How the autoscaler removes pods."
    )


class AutoscalingSpec(_Model):
    """The HorizontalPodAutoscaler the operator keeps for the service."""

    enabled: bool = Field(
        True,
        description=(
            "Scale the pods with a HorizontalPodAutoscaler between minReplicas and "
            "maxReplicas. When false the HPA is removed and spec.replicas applies."
        ),
    )
    min_replicas: int = Field(2, ge=1, le=1000, description="Fewest pods the autoscaler keeps.")
    max_replicas: int = Field(6, ge=1, le=1000, description="Most pods the autoscaler creates.")
    target_cpu_utilization_percentage: int | None = Field(
        70,
        # The wire name of DESIGN.md and of HPA v1; to_camel would say "targetCpu...".
        alias="targetCPUUtilizationPercentage",
        ge=1,
        le=1000,
        description=(
            "Average CPU use across pods, in percent of the pods' CPU requests, that the "
            "autoscaler aims for. Set to null to scale on memory only (omitting it gives 70); "
            f"{NULL_NEEDS_SERVER_SIDE}"
        ),
    )
    target_memory_utilization_percentage: int | None = Field(
        80,
        ge=1,
        le=1000,
        description=(
            "Average memory use across pods, in percent of the pods' memory requests, that "
            "the autoscaler aims for. A loaded model holds its memory even at idle (keepAlive "
            "-1), so this works as a load signal only when the memory requests are well above "
            "the loaded model's size (TinyLlama: about 1.1Gi, so 3Gi or more for Ollama); "
            "otherwise the target is met at idle and the autoscaler stays at maxReplicas. "
            "Set to null to scale on CPU only (omitting it gives 80); "
            f"{NULL_NEEDS_SERVER_SIDE}"
        ),
    )
    scale_down_stabilization_seconds: int = Field(
        300,
        ge=0,
        le=3600,
        description=(
            "How long load must stay low before the autoscaler removes pods; long enough "
            "that a pod which just loaded its model is not dropped in a lull."
        ),
    )
    metrics: list[ScalingMetric] | None = Field(
        None,
        min_length=1,
        max_length=4,
        description=(
            "What the autoscaler scales on: CPU, Memory, InFlightRequests, QueuedRequests, "
            "each at most once; the count is the highest any of them asks for. When set, "
            "this list is complete and targetCPUUtilizationPercentage and "
            "targetMemoryUtilizationPercentage are not used; unset, those two apply (CPU 70 %, "
            "memory 80 %). A generating pod is bound by its slots, not its CPU: "
            "InFlightRequests scales on what it is busy with (see docs/autoscaling.md)."
        ),
    )
    behavior: ScalingBehavior = Field(
        default_factory=ScalingBehavior,
        description=(
            "How fast pods are added and removed; the defaults suit pods that need minutes "
            "before they serve."
        ),
    )

    def effective_metrics(self) -> list[ScalingMetric]:
        """The metrics the HPA scales on: the list, or the two utilization targets."""
        if self.metrics is not None:
            return list(self.metrics)
        found = []
        if self.target_cpu_utilization_percentage is not None:
            found.append(
                ScalingMetric(
                    type="CPU",
                    target_utilization_percentage=self.target_cpu_utilization_percentage,
                )
            )
        if self.target_memory_utilization_percentage is not None:
            found.append(
                ScalingMetric(
                    type="Memory",
                    target_utilization_percentage=self.target_memory_utilization_percentage,
                )
            )
        return found

    def scale_down_window(self) -> int:
        """The scale-down stabilization window in force."""
        window = self.behavior.scale_down.stabilization_window_seconds
        return self.scale_down_stabilization_seconds if window is None else window


class ResourceRequirements(_Model):
    """Compute resources of one container, as in a Kubernetes container spec."""

    requests: dict[ContainerResourceName, Quantity] = Field(
        default_factory=dict,
        max_length=MAX_MAP_ENTRIES,
        description=(
            "Resources the scheduler reserves (cpu, memory, ephemeral-storage, or an extended "
            "resource such as example.com/device)."
        ),
    )
    limits: dict[ContainerResourceName, Quantity] = Field(
        default_factory=dict,
        max_length=MAX_MAP_ENTRIES,
        description=(
            "Most the container may use (cpu, memory, ephemeral-storage, or an extended "
            "resource such as example.com/device)."
        ),
    )


# --------------------------------------------------------------------------------------
# Kubernetes types the pods take from the spec (environment sources, tolerations,
# affinity), written out so that the CRD bounds them and the API server refuses a bad one
# when the LLMService is applied, not later, when the operator writes the Deployment.
# Each follows the Kubernetes type of the same name; the lists carry a maxItems so that the
# CEL rules on them stay within the API server's cost budget.


class ObjectFieldSelector(_Model):
    """A field of the pod, as in a Kubernetes EnvVarSource's fieldRef."""

    api_version: Literal["v1"] | None = Field(
        None, description="Version of the pod schema the path is written in; only v1."
    )
    field_path: str = Field(
        ...,
        max_length=400,
        pattern=FIELD_PATH_PATTERN,
        description=(
            "The pod field: metadata.name, metadata.namespace, metadata.uid, "
            "metadata.labels['<key>'], metadata.annotations['<key>'], spec.nodeName, "
            "spec.serviceAccountName, status.hostIP, status.hostIPs, status.podIP or "
            "status.podIPs."
        ),
    )


class ResourceFieldSelector(_Model):
    """A container's resource request or limit, as in a Kubernetes EnvVarSource's
    resourceFieldRef."""

    container_name: Literal["backend", "ollama"] | None = Field(
        None,
        description=(
            "The container whose resource is read: backend or ollama (the pod's only "
            "containers); unset reads the variable's own container."
        ),
    )
    resource: str = Field(
        ...,
        max_length=128,
        pattern=RESOURCE_FIELD_PATTERN,
        description=(
            "limits.cpu, limits.memory, limits.ephemeral-storage, requests.cpu, "
            "requests.memory, requests.ephemeral-storage, or limits/requests.hugepages-<size>."
        ),
    )
    divisor: Quantity | None = Field(
        None,
        description=(
            "Unit of the value: 1m or 1 for cpu; 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, "
            "1Ti, 1Pi or 1Ei for the others. Unset is 1."
        ),
    )


class KeySelector(_Model):
    """A key of a ConfigMap or Secret in the LLMService's namespace."""

    name: ObjectName = Field(..., description="Name of the ConfigMap or Secret.")
    key: str = Field(
        ...,
        min_length=1,
        max_length=253,
        pattern=SECRET_KEY_PATTERN,
        description="The key whose value the variable takes.",
    )
    optional: bool | None = Field(
        None, description="Start the container even when the object or the key is missing."
    )


class EnvVarSource(_Model):
    """Where a variable's value comes from: exactly one of the four sources."""

    field_ref: ObjectFieldSelector | None = Field(None, description="A field of the pod.")
    resource_field_ref: ResourceFieldSelector | None = Field(
        None, description="A container's resource request or limit."
    )
    config_map_key_ref: KeySelector | None = Field(None, description="A key of a ConfigMap.")
    secret_key_ref: KeySelector | None = Field(None, description="A key of a Secret.")


TolerationKey = Annotated[
    str,
    Field(pattern=TOLERATION_KEY_PATTERN, max_length=QUALIFIED_NAME_MAX_LENGTH),
    AfterValidator(_prefix_fits),
]


class Toleration(_Model):
    """A pod toleration, as in a Kubernetes pod spec."""

    key: TolerationKey | None = Field(
        None,
        description=(
            "Taint key the toleration matches, a qualified name; empty matches every key, "
            "and then operator must be Exists."
        ),
    )
    operator: Literal["Exists", "Equal"] | None = Field(
        None,
        description="Equal (unset means Equal): the taint's value is value; Exists: any value.",
    )
    value: LabelValue | None = Field(
        None, description="Taint value the toleration matches; empty with operator Exists."
    )
    effect: Literal["", "NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="Taint effect the toleration matches; empty matches every effect."
    )
    toleration_seconds: int | None = Field(
        None,
        description=(
            "How long a pod stays bound to a node tainted NoExecute; only with effect NoExecute."
        ),
    )


class NodeSelectorRequirement(_Model):
    """A condition on one node label."""

    key: QualifiedNameField = Field(..., description="The node label's key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] = Field(
        ...,
        description=(
            "In and NotIn take values; Exists and DoesNotExist take none; Gt and Lt take one "
            "value, a whole number the label's value is compared with."
        ),
    )
    values: list[LabelValue] | None = Field(None, max_length=64, description="The values.")


class NodeFieldSelectorRequirement(_Model):
    """A condition on a node field: its name, the only field Kubernetes allows here."""

    key: Literal["metadata.name"] = Field(..., description="The node field; only metadata.name.")
    operator: Literal["In", "NotIn"] = Field(..., description="In or NotIn.")
    values: list[ObjectName] = Field(
        ..., min_length=1, max_length=1, description="Exactly one node name."
    )


class NodeSelectorTerm(_Model):
    """Node conditions that must all hold."""

    match_expressions: list[NodeSelectorRequirement] | None = Field(
        None, max_length=16, description="Conditions on node labels."
    )
    match_fields: list[NodeFieldSelectorRequirement] | None = Field(
        None, max_length=4, description="Conditions on node fields."
    )


class NodeSelector(_Model):
    """Terms of which at least one must hold."""

    node_selector_terms: list[NodeSelectorTerm] = Field(
        ..., min_length=1, max_length=8, description="The terms, at least one."
    )


class PreferredSchedulingTerm(_Model):
    """A node term the scheduler prefers, with its weight."""

    weight: int = Field(..., ge=1, le=100, description="Weight, 1 to 100.")
    preference: NodeSelectorTerm = Field(..., description="The node term.")


class NodeAffinity(_Model):
    """Which nodes the pods may or should run on."""

    required_during_scheduling_ignored_during_execution: NodeSelector | None = Field(
        None, description="Nodes the pods must run on."
    )
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] | None = (
        Field(None, max_length=8, description="Nodes the pods should run on.")
    )


class LabelSelectorRequirement(_Model):
    """A condition on one pod or namespace label."""

    key: QualifiedNameField = Field(..., description="The label's key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        ..., description="In and NotIn take values; Exists and DoesNotExist take none."
    )
    values: list[LabelValue] | None = Field(None, max_length=64, description="The values.")


class LabelSelector(_Model):
    """Labels that must match: all of matchLabels and of matchExpressions."""

    match_labels: dict[QualifiedName, LabelValue] | None = Field(
        None, max_length=MAX_MAP_ENTRIES, description="Labels by key and value; at most 32."
    )
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        None, max_length=16, description="Conditions on labels."
    )


class PodAffinityTerm(_Model):
    """Pods (selected by labels, in some namespaces) to run near or away from, per
    topology domain."""

    label_selector: LabelSelector | None = Field(None, description="The pods.")
    namespace_selector: LabelSelector | None = Field(
        None, description="The namespaces of the pods; unset with namespaces unset: our own."
    )
    namespaces: list[DNS1123Label] | None = Field(
        None, max_length=32, description="The namespaces of the pods, by name."
    )
    topology_key: QualifiedNameField = Field(
        ...,
        min_length=1,
        description="Node label whose value is the domain (kubernetes.io/hostname, a zone).",
    )
    match_label_keys: list[QualifiedNameField] | None = Field(
        None,
        max_length=16,
        description="Pod label keys whose values must equal the new pod's; needs labelSelector.",
    )
    mismatch_label_keys: list[QualifiedNameField] | None = Field(
        None,
        max_length=16,
        description=(
            "Pod label keys whose values must differ from the new pod's; needs labelSelector."
        ),
    )


class WeightedPodAffinityTerm(_Model):
    """A pod affinity term the scheduler prefers, with its weight."""

    weight: int = Field(..., ge=1, le=100, description="Weight, 1 to 100.")
    pod_affinity_term: PodAffinityTerm = Field(..., description="The term.")


class PodAffinity(_Model):
    """Pods to run near (podAffinity) or away from (podAntiAffinity)."""

    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = Field(
        None, max_length=8, description="Terms that must hold."
    )
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None = (
        Field(None, max_length=8, description="Terms that should hold.")
    )


class Affinity(_Model):
    """Pod affinity rules, as in a Kubernetes pod spec."""

    node_affinity: NodeAffinity | None = Field(None, description="Nodes to run on.")
    pod_affinity: PodAffinity | None = Field(None, description="Pods to run near.")
    pod_anti_affinity: PodAffinity | None = Field(None, description="Pods to run away from.")


class EnvVar(_Model):
    """An environment variable, as in a Kubernetes container spec."""

    name: str = Field(
        ...,
        min_length=1,
        max_length=253,
        pattern=ENV_NAME_PATTERN,
        description="Variable name.",
    )
    value: str | None = Field(None, description="Literal value.")
    value_from: EnvVarSource | None = Field(
        None,
        description=(
            "Source of the value: exactly one of secretKeyRef, configMapKeyRef, fieldRef and "
            "resourceFieldRef, as in a Kubernetes EnvVar."
        ),
    )


class SecretKeyRef(_Model):
    """A key of a Secret in the LLMService's namespace."""

    name: str = Field(
        ...,
        min_length=1,
        max_length=253,
        pattern=DNS1123_SUBDOMAIN_PATTERN,
        description="Name of the Secret.",
    )
    key: str = Field(
        "api-key",
        min_length=1,
        max_length=253,
        pattern=SECRET_KEY_PATTERN,
        description="Key in the Secret.",
    )


def _default_backend_resources() -> ResourceRequirements:
    return ResourceRequirements(
        requests={"cpu": "100m", "memory": "128Mi"}, limits={"memory": "512Mi"}
    )


def _default_ollama_resources() -> ResourceRequirements:
    return ResourceRequirements(requests={"cpu": "1", "memory": "2Gi"}, limits={"memory": "4Gi"})


class BackendTimeouts(_Model):
    """How long the backend waits, in seconds. The defaults fit CPU inference of a small
    model: an answer of a few minutes, and a queue a few answers long when more users
    chat at once than a pod has slots."""

    queue_seconds: int = Field(
        600,
        ge=1,
        le=86400,
        description=(
            "Longest a chat request waits for a free slot before it is answered 503 "
            "(code queue_timeout). Allow for a few answers: a queued request waits until a "
            "running one ends."
        ),
    )
    first_token_seconds: int = Field(
        300,
        ge=1,
        le=86400,
        description=(
            "Longest a streamed request waits, once it has a slot, for Ollama's first token "
            "(prompt evaluation; a model loading); then 504."
        ),
    )
    stream_idle_seconds: int = Field(
        120,
        ge=1,
        le=86400,
        description="Longest silence inside a running stream before it is ended with an error.",
    )
    request_seconds: int = Field(
        1200,
        ge=1,
        le=86400,
        description=(
            "Longest a whole request may take, queue included; then 504. Must exceed "
            "queueSeconds and be at least firstTokenSeconds."
        ),
    )


class BackendSpec(_Model):
    """The chat backend container: the API and chat page users reach."""

    image: ImageReference = Field(
        DEFAULT_BACKEND_IMAGE,
        description="Backend container image, as [host[:port]/]path[:tag][@digest].",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="Kubernetes image pull policy of the backend container."
    )
    port: int = Field(
        8080,
        ge=1,
        le=65535,
        description="Port the backend listens on inside the pod; the Service targets it.",
    )
    resources: ResourceRequirements = Field(
        default_factory=_default_backend_resources,
        description=(
            "Backend container resources. Keep cpu and memory requests when autoscaling on "
            "them: utilization is measured against requests."
        ),
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=64,
        description="Extra environment variables for the backend.",
    )
    max_concurrent_requests: int = Field(
        4,
        ge=1,
        le=1024,
        description=(
            "Chat requests a pod sends to its Ollama at once; more wait in a queue. Match "
            "ollama.numParallel so requests do not queue twice."
        ),
    )
    max_queued_requests: int = Field(
        32,
        ge=0,
        le=10000,
        description=(
            "Chat requests a pod holds waiting for a free slot; beyond this it answers 429 "
            "with Retry-After so clients back off and the load reaches other pods."
        ),
    )
    timeouts: BackendTimeouts = Field(
        default_factory=BackendTimeouts,
        description=(
            "How long requests may queue, wait for a first token, stay silent and take in "
            "all; passed to the backend as QUEUE_TIMEOUT_SECONDS, FIRST_TOKEN_TIMEOUT_SECONDS, "
            "STREAM_IDLE_TIMEOUT_SECONDS and REQUEST_TIMEOUT_SECONDS."
        ),
    )
    api_key_secret_ref: SecretKeyRef | None = Field(
        None,
        description=(
            "Secret key holding an API key; when set, the backend requires "
            "`Authorization: Bearer <key>` on the chat APIs."
        ),
    )


class OllamaSpec(_Model):
    """The Ollama sidecar container that serves the model."""

    image: ImageReference = Field(
        DEFAULT_OLLAMA_IMAGE,
        description=(
            "Ollama container image, as [host[:port]/]path[:tag][@digest]; pinned by default."
        ),
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="Kubernetes image pull policy of the Ollama container."
    )
    resources: ResourceRequirements = Field(
        default_factory=_default_ollama_resources,
        description=(
            "Ollama container resources. The memory limit must hold the model weights plus "
            "its context; TinyLlama needs about 1Gi."
        ),
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=64,
        description="Extra environment variables for Ollama.",
    )
    num_parallel: int = Field(
        4,
        ge=1,
        le=64,
        description="Requests Ollama decodes at once (OLLAMA_NUM_PARALLEL).",
    )


class ServiceSpec(_Model):
    """The Service in front of the pods."""

    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        "ClusterIP", description="Kubernetes Service type."
    )
    port: int = Field(80, ge=1, le=65535, description="Port the Service exposes.")
    node_port: int | None = Field(
        None,
        ge=30000,
        le=32767,
        description=(
            "Fixed node port for NodePort and LoadBalancer Services; unset lets Kubernetes "
            "pick one."
        ),
    )
    annotations: Annotations = Field(
        default_factory=dict,
        description=(
            "Annotations on the Service (load balancer settings, for instance); at most 32, "
            f"of at most {ANNOTATIONS_MAX_BYTES} bytes in all (keys and values)."
        ),
    )


class ImagePullSecret(_Model):
    """A reference to an image pull Secret."""

    name: ObjectName = Field(
        ...,
        description=(
            "Name of the Secret. The API server does not check it, but a Secret can have no "
            "other name than a DNS-1123 subdomain, so anything else is a typo."
        ),
    )


# --------------------------------------------------------------------------------------
# disruptions: the PodDisruptionBudget and spreading the pods over nodes

PERCENT_PATTERN = r"^(100|[1-9][0-9]?)%$"
_INT_OR_PERCENT_SCHEMA = {
    "x-kubernetes-int-or-string": True,
    "minimum": 1,
    "maximum": 1000,
    "pattern": PERCENT_PATTERN,
    "maxLength": 4,
}
INT_OR_PERCENT_ERROR = "int_or_percent"


def _int_or_percent(value: int | str) -> int | str:
    if isinstance(value, bool):
        raise PydanticCustomError(INT_OR_PERCENT_ERROR, "must be a number of pods or a percent")
    if isinstance(value, int):
        if not 1 <= value <= 1000:
            raise PydanticCustomError(
                INT_OR_PERCENT_ERROR, "must be between 1 and 1000 pods, or a percent"
            )
        return value
    if not re.fullmatch(PERCENT_PATTERN, value):
        raise PydanticCustomError(
            INT_OR_PERCENT_ERROR,
            f'must be a number of pods or a percent from "1%" to "100%", not {value!r}',
        )
    return value


# A count of pods (1 to 1000) or a percentage of them ("1%" to "100%"), as a PDB takes it.
IntOrPercent = Annotated[
    int | str,
    AfterValidator(_int_or_percent),
    WithJsonSchema(_INT_OR_PERCENT_SCHEMA),
]


class DisruptionBudgetSpec(_Model):
    """The PodDisruptionBudget that keeps voluntary disruptions (node drains, cluster
    upgrades) from taking too many of the service's pods at once."""

    enabled: bool = Field(
        True,
        description=(
            "Keep a PodDisruptionBudget while the service can run 2 pods or more "
            "(spec.replicas, or spec.autoscaling.maxReplicas while autoscaling); a single "
            "pod gets none. False removes it."
        ),
    )
    max_unavailable: IntOrPercent | None = Field(
        None,
        description=(
            'Most pods a drain may take at once: a number or a percent ("25%"). Unset '
            "(and minAvailable unset): 1. A new pod needs minutes to pull and load its "
            "model, so one at a time keeps the rest serving."
        ),
    )
    min_available: IntOrPercent | None = Field(
        None,
        description=(
            "Fewest pods that must stay available instead, a number or a percent; not with "
            "maxUnavailable. A number must be below the fewest pods the service runs "
            "(spec.replicas, or spec.autoscaling.minReplicas), or no drain could ever "
            "evict a pod."
        ),
    )


# Kubernetes' well-known node label: one node per value.
HOSTNAME_TOPOLOGY_KEY = "kubernetes.io/hostname"


class TopologySpread(_Model):
    """How the service's pods spread over a topology (nodes, zones), as a pod's
    topologySpreadConstraints entry that selects the service's own pods."""

    max_skew: int = Field(
        1,
        ge=1,
        le=1000,
        description="Most the pod count may differ between two domains (nodes, zones).",
    )
    topology_key: QualifiedNameField = Field(
        HOSTNAME_TOPOLOGY_KEY,
        description=(
            "Node label whose values are the domains: kubernetes.io/hostname spreads over "
            "nodes, topology.kubernetes.io/zone over zones."
        ),
    )
    when_unsatisfiable: Literal["ScheduleAnyway", "DoNotSchedule"] = Field(
        "ScheduleAnyway",
        description=(
            "ScheduleAnyway prefers a spread but places a pod anyway; DoNotSchedule leaves "
            "a pod Pending rather than break the spread."
        ),
    )
    min_domains: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Fewest domains to count (DoNotSchedule only), as in Kubernetes.",
    )
    node_affinity_policy: Literal["Honor", "Ignore"] | None = Field(
        None,
        description=(
            "Whether nodes the pods cannot go to count as domains (Kubernetes' default: Honor)."
        ),
    )
    node_taints_policy: Literal["Honor", "Ignore"] | None = Field(
        None,
        description="Whether tainted nodes count as domains (Kubernetes' default: Ignore).",
    )


class PodOptions(_Model):
    """Scheduling and metadata passed through to every pod."""

    node_selector: dict[QualifiedName, LabelValue] = Field(
        default_factory=dict,
        max_length=MAX_MAP_ENTRIES,
        description="Node labels the pods must be scheduled on; at most 32.",
    )
    tolerations: list[Toleration] = Field(
        default_factory=list,
        max_length=32,
        description="Pod tolerations, as in a Kubernetes pod spec; at most 32.",
    )
    affinity: Affinity | None = Field(
        None, description="Pod affinity rules, as in a Kubernetes pod spec."
    )
    runtime_class_name: ObjectName | None = Field(
        None, description="RuntimeClass of the pods (nvidia, for instance)."
    )
    priority_class_name: ObjectName | None = Field(None, description="PriorityClass of the pods.")
    service_account_name: ObjectName | None = Field(
        None,
        description="ServiceAccount the pods run as; unset uses the namespace's default.",
    )
    image_pull_secrets: list[ImagePullSecret] = Field(
        default_factory=list, description="Secrets for pulling private images."
    )
    labels: dict[QualifiedName, LabelValue] = Field(
        default_factory=dict,
        max_length=MAX_MAP_ENTRIES,
        description=(
            "Extra pod labels; at most 32. The operator's own app.kubernetes.io labels win."
        ),
    )
    annotations: Annotations = Field(
        default_factory=dict,
        description=(
            "Extra pod annotations; at most 32, of at most "
            f"{ANNOTATIONS_MAX_BYTES} bytes in all (keys and values)."
        ),
    )
    topology_spread_constraints: list[TopologySpread] | None = Field(
        None,
        max_length=8,
        description=(
            "How the pods spread over nodes or zones. Unset: a soft spread over nodes "
            "(maxSkew 1, topologyKey kubernetes.io/hostname, ScheduleAnyway), so a node lost "
            "takes as few of the service's pods as the cluster allows; [] for none."
        ),
    )
    termination_grace_period_seconds: int = Field(
        120,
        ge=1,
        le=3600,
        description=(
            "Time a stopping pod gets to finish the chat streams it is serving before it is killed."
        ),
    )


class GPUSpec(_Model):
    """GPUs for the Ollama container."""

    count: int = Field(0, ge=0, le=16, description="GPUs per pod; 0 runs on CPU.")
    resource_name: str = Field(
        "nvidia.com/gpu",
        max_length=253,
        pattern=RESOURCE_NAME_PATTERN,
        description="Extended resource name of the GPU (nvidia.com/gpu, amd.com/gpu).",
    )


# The options of what a service shows to the cluster live in their own module, which builds
# on the types above (hence the import here, not at the top).
from llmservice_operator.api.exposure import (  # noqa: E402
    MonitoringSpec,
    NetworkPolicySpec,
    RouteSpec,
)


class LLMServiceSpec(_Model):
    """Desired state of an LLM chat service."""

    model: ModelSpec = Field(default_factory=ModelSpec, description="The model to serve.")
    replicas: int = Field(
        2,
        ge=0,
        le=1000,
        description=(
            "Number of pods when autoscaling is disabled (also set by `kubectl scale`). "
            "Ignored while autoscaling is enabled."
        ),
    )
    autoscaling: AutoscalingSpec = Field(
        default_factory=AutoscalingSpec, description="Horizontal autoscaling of the pods."
    )
    backend: BackendSpec = Field(
        default_factory=BackendSpec, description="The chat backend container."
    )
    ollama: OllamaSpec = Field(
        default_factory=OllamaSpec, description="The Ollama sidecar container."
    )
    service: ServiceSpec = Field(
        default_factory=ServiceSpec, description="The Service in front of the pods."
    )
    pod: PodOptions = Field(
        default_factory=PodOptions, description="Scheduling and metadata of the pods."
    )
    gpu: GPUSpec = Field(default_factory=GPUSpec, description="GPUs for Ollama.")
    pod_disruption_budget: DisruptionBudgetSpec = Field(
        default_factory=DisruptionBudgetSpec,
        description=(
            "The PodDisruptionBudget of the pods: by default at most 1 pod unavailable at a "
            "time in node drains, for a service that can run 2 pods or more."
        ),
    )
    monitoring: MonitoringSpec = Field(
        default_factory=MonitoringSpec,
        description="A Prometheus Operator PodMonitor for the backend's metrics.",
    )
    route: RouteSpec | None = Field(
        None,
        description=(
            "A route from outside the cluster: a Gateway API HTTPRoute or an Ingress (one "
            "of them); unset: none."
        ),
    )
    network_policy: NetworkPolicySpec = Field(
        default_factory=NetworkPolicySpec,
        description="A NetworkPolicy admitting only the named clients to the backend.",
    )


# --------------------------------------------------------------------------------------
# status

Phase = Literal["Pending", "Progressing", "Ready", "Degraded", "Failed"]
ConditionStatus = Literal["True", "False", "Unknown"]
ScalingState = Literal[
    "Disabled", "Stable", "ScalingUp", "ScalingDown", "AtMaximum", "AtMinimum", "MetricsUnavailable"
]

# Condition types.
READY = "Ready"
AVAILABLE = "Available"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
SCALING_LIMITED = "ScalingLimited"
# The two "abnormal-true" conditions GitOps tools read through kstatus (Flux,
# cli-utils, kubectl-style waiters): derived from the ones above.
RECONCILING = "Reconciling"
STALLED = "Stalled"
CONDITION_TYPES = (
    READY,
    AVAILABLE,
    PROGRESSING,
    DEGRADED,
    SCALING_LIMITED,
    RECONCILING,
    STALLED,
)


class Condition(_Model):
    """One observation of the service, in the shape of a metav1.Condition."""

    type: str = Field(..., description="Condition type: Ready, Available, Progressing, ...")
    status: ConditionStatus = Field(..., description="True, False or Unknown.")
    reason: str = Field(
        ..., description="CamelCase reason, for machines (AllReplicasReady, CrashLoopBackOff)."
    )
    message: str = Field("", description="Human-readable detail.")
    last_transition_time: str = Field(..., description="When the status last changed (RFC 3339).")
    observed_generation: int | None = Field(
        None, description="The spec generation this condition was computed for."
    )


class ScalingMetricStatus(_Model):
    """One metric the autoscaler scales on: its target and the value it last read."""

    type: str = Field(
        ...,
        max_length=253,
        description=(
            "CPU, Memory, InFlightRequests or QueuedRequests (as in spec.autoscaling.metrics)."
        ),
    )
    current_utilization_percentage: int | None = Field(
        None, description="CPU and Memory: the average use, in percent of the requests."
    )
    target_utilization_percentage: int | None = Field(
        None, description="CPU and Memory: the target, in percent of the requests."
    )
    current_average_value: str | None = Field(
        None,
        max_length=64,
        description='InFlightRequests and QueuedRequests: the average per pod, as "2.5".',
    )
    target_average_value: str | None = Field(
        None, max_length=64, description="InFlightRequests and QueuedRequests: the target."
    )


class AutoscalingStatus(_Model):
    """What the autoscaler is doing."""

    state: ScalingState = Field(
        "Disabled",
        description=(
            "Disabled, Stable, ScalingUp, ScalingDown, AtMaximum or AtMinimum; "
            "MetricsUnavailable while the autoscaler cannot read the metrics it scales on "
            "(no metrics server, or no metrics yet for new pods): it keeps the count as it is."
        ),
    )
    min_replicas: int | None = Field(None, description="Lower bound in force.")
    max_replicas: int | None = Field(None, description="Upper bound in force.")
    current_replicas: int | None = Field(None, description="Pods the autoscaler sees.")
    desired_replicas: int | None = Field(None, description="Pods the autoscaler wants.")
    current_cpu_utilization_percentage: int | None = Field(
        None,
        alias="currentCPUUtilizationPercentage",
        description="Average CPU use, in percent of requests.",
    )
    current_memory_utilization_percentage: int | None = Field(
        None, description="Average memory use, in percent of requests."
    )
    last_scale_time: str | None = Field(
        None, description="When the autoscaler last changed the replica count."
    )
    metrics: list[ScalingMetricStatus] | None = Field(
        None,
        max_length=8,
        description=(
            "Each metric the autoscaler scales on, with its target and the value it last "
            "read (absent while it has read none)."
        ),
    )


ModelState = Literal["Waiting", "Starting", "Pulling", "Loading", "Ready", "Failed", "Unknown"]


class PodModelStatus(_Model):
    """Where one pod is with its model."""

    name: str = Field(..., max_length=253, description="The pod.")
    state: ModelState = Field(
        ...,
        description=(
            "Waiting (not running yet), Starting, Pulling (downloading the model), Loading "
            "(into memory), Ready, Failed, or Unknown (its backend did not answer)."
        ),
    )
    percent: int | None = Field(
        None, ge=0, le=100, description="How much of the model is downloaded, while Pulling."
    )


class ModelStatus(_Model):
    """The model's progress in the service's pods, read from each starting pod's backend."""

    summary: str | None = Field(
        None, max_length=256, description='The pods by state, as "1 Ready, 1 Pulling 40%".'
    )
    pods: list[PodModelStatus] = Field(
        default_factory=list, max_length=1000, description="Each pod's state, by name."
    )


class LLMServiceStatus(_Model):
    """Observed state, written by the operator only."""

    observed_generation: int | None = Field(
        None, description="The spec generation the operator last acted on."
    )
    phase: Phase | None = Field(
        None, description="Pending, Progressing, Ready, Degraded or Failed."
    )
    ready: str | None = Field(None, description='Ready pods over desired pods, as "2/2".')
    replicas: int | None = Field(None, description="Pods that exist.")
    ready_replicas: int | None = Field(None, description="Pods that are Ready.")
    available_replicas: int | None = Field(
        None, description="Pods Ready for at least the Deployment's minReadySeconds."
    )
    updated_replicas: int | None = Field(None, description="Pods running the current pod template.")
    desired_replicas: int | None = Field(None, description="Pods wanted right now.")
    selector: str | None = Field(
        None, description="Label selector of the pods (for the scale subresource)."
    )
    endpoint: str | None = Field(None, description="In-cluster URL of the service.")
    autoscaling: AutoscalingStatus | None = Field(None, description="State of the autoscaler.")
    model: ModelStatus | None = Field(
        None, description="Each pod's progress with the model: download, loading, ready."
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Latest observations of the service's state."
    )


class ObjectMeta(_Model):
    """The subset of metadata the operator reads; the rest is kept as it is."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    name: str = Field(..., min_length=1, max_length=63, pattern=DNS1035_LABEL_PATTERN)
    namespace: str | None = Field(None, max_length=63, pattern=DNS1123_LABEL_PATTERN)
    uid: str | None = None
    generation: int | None = None
    labels: dict[QualifiedName, LabelValue] = Field(default_factory=dict)
    annotations: dict[QualifiedName, str] = Field(default_factory=dict)


class LLMService(_Model):
    """An LLM chat service: an Ollama-served model behind a chat backend, autoscaled."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    api_version: Literal["llmservice.dev/v1alpha1"] = Field(
        "llmservice.dev/v1alpha1", description="llmservice.dev/v1alpha1"
    )
    kind: Literal["LLMService"] = Field("LLMService", description="LLMService")
    metadata: ObjectMeta
    spec: LLMServiceSpec = Field(default_factory=LLMServiceSpec)
    status: LLMServiceStatus | None = None
