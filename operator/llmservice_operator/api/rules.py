"""LLMService's cross-field rules, as CEL ``x-kubernetes-validations`` data.

Rules that involve more than one field cannot be said in an OpenAPI schema, and a pydantic
validator would only run in ``render`` and the operator, not in ``kubectl apply``. So each rule
is written once, here, in CEL: ``crd.py`` places it in the CRD (the API server enforces it)
and ``validation.py`` evaluates the CRD's rules with cel-python (``render`` and the operator
enforce the same text).

Each rule runs at one schema node (``node``, a dotted path in the LLMService schema, ``""`` for
the root) on the defaulted object: fields with a default are always present there, so only
optional fields (no default) are guarded with ``has()``. A null field counts as absent, as the
API server does.

Kubernetes limits: rules must compile in the API server's CEL environment (1.29 and later:
the quantity library is available) and stay within its static cost budget (10 million units
per expression), or the API server refuses the CRD. So every list a rule iterates and every
string it compares or concatenates has a maxItems/maxLength in the models; int-or-string
quantities, which the API server always sizes at the full request size, are never passed to
``string()`` (its result size is unbounded) and never parsed inside a loop. The key rules
iterate the keys of maps with maxProperties and never read their values.

Measured on a real kube-apiserver (1.37, ``tests/cluster``), not only reasoned: a
``messageExpression`` that calls ``string()`` on an integer, or nests a ``filter`` in a
``filter``, is estimated at more than 100 times the budget and the whole CRD is refused, so
those rules carry a static ``message`` only (it names the field all the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from llmservice_operator.api.models import (
    CONTAINER_RESOURCE_NAME_PATTERN,
    DNS1035_LABEL_PATTERN,
    KEY_PREFIX_MAX_LENGTH,
    OLLAMA_PORT,
    QUALIFIED_NAME_MAX_LENGTH,
    QUALIFIED_NAME_PATTERN,
)

FIELD_VALUE_INVALID: Final = "FieldValueInvalid"
FIELD_VALUE_FORBIDDEN: Final = "FieldValueForbidden"
FIELD_VALUE_REQUIRED: Final = "FieldValueRequired"
FIELD_VALUE_DUPLICATE: Final = "FieldValueDuplicate"


@dataclass(frozen=True)
class Rule:
    """One CEL validation rule and where it lives in the LLMService schema."""

    name: str  # stable identifier, for tests and docs
    node: str  # dotted schema path the rule is attached to ("" is the root)
    rule: str
    message: str  # static message: shown when messageExpression cannot be evaluated
    message_expression: str | None = None
    field_path: str | None = None  # relative to node, as Kubernetes' fieldPath (".a.b")
    reason: str = FIELD_VALUE_INVALID

    def validation(self) -> dict[str, Any]:
        """The ``x-kubernetes-validations`` entry."""
        entry: dict[str, Any] = {"rule": self.rule, "message": self.message}
        if self.message_expression is not None:
            entry["messageExpression"] = self.message_expression
        if self.field_path is not None:
            entry["fieldPath"] = self.field_path
        entry["reason"] = self.reason
        return entry

    @property
    def path(self) -> str:
        """The dotted path an error of this rule is reported at."""
        if self.field_path is None:
            return self.node
        tail = self.field_path.lstrip(".")
        return f"{self.node}.{tail}" if self.node else tail


def _as_number(value: str) -> str:
    """CEL for a quantity field as a double, whether it holds an int (``cpu: 1``) or a string.

    Quantity fields are int-or-string, which CEL sees as ``dyn``: ``quantity()`` takes only
    the string form. A double is exact enough to order cpu and memory amounts.
    """
    return f"(type({value}) == int ? double({value}) : quantity({value}).asApproximateFloat())"


def _limit_covers_request(container: str, resource: str) -> Rule:
    """limits >= requests, which the API server checks only when the pod is created.

    Written for cpu and memory by name rather than by iterating the maps: the API server
    estimates every int-or-string value at its largest possible size, so a loop over 32
    keys parsing quantities would exceed the CEL cost budget and the CRD would be refused.
    """
    node = f"spec.{container}.resources"
    limit, request = f"self.limits['{resource}']", f"self.requests['{resource}']"
    return Rule(
        name=f"{container}-{resource}-limit-covers-request",
        node=node,
        rule=(
            f"!('{resource}' in self.requests) || !('{resource}' in self.limits) "
            f"|| {_as_number(limit)} >= {_as_number(request)}"
        ),
        message=f"{node}.limits.{resource} must be at least {node}.requests.{resource}",
        field_path=".limits",
    )


def _request_for_target(container: str, resource: str, target: str) -> Rule:
    """An HPA utilization target needs a request on every container to measure against."""
    return Rule(
        name=f"{container}-{resource}-request-for-autoscaling",
        node="spec",
        rule=(
            f"!self.autoscaling.enabled || !has(self.autoscaling.{target}) "
            f"|| '{resource}' in self.{container}.resources.requests"
        ),
        message=(
            f"spec.{container}.resources.requests.{resource} is required while "
            f"spec.autoscaling.{target} is set: the autoscaler measures {resource} use "
            f"against the requests of every container"
        ),
        field_path=f".{container}.resources.requests",
        reason=FIELD_VALUE_REQUIRED,
    )


QUALIFIED_NAME_MEANING: Final = (
    "a qualified name: an optional DNS-1123 subdomain prefix and /, then at most 63 "
    "letters, digits, dashes, underscores or dots, starting and ending with a letter or digit"
)
RESOURCE_NAME_MEANING: Final = (
    "a resource name: cpu, memory, ephemeral-storage, hugepages-<size>, or an extended "
    "resource with a domain such as example.com/device"
)
PREFIX_TOO_LONG: Final = f"the prefix before / must be at most {KEY_PREFIX_MAX_LENGTH} characters"


def _keys(node: str, pattern: str, meaning: str) -> tuple[Rule, Rule]:
    """The keys of the map at ``node`` match ``pattern`` and have a short enough prefix.

    A structural schema cannot constrain map keys, so CEL does. The map has maxProperties
    and the rule never touches its values, which keeps the estimated cost small.
    """
    shape = f"k.size() <= {QUALIFIED_NAME_MAX_LENGTH} && k.matches('{pattern}')"
    prefix = f"k.indexOf('/') <= {KEY_PREFIX_MAX_LENGTH}"
    slug = node.removeprefix("spec.").replace(".", "-")
    return (
        Rule(
            name=f"{slug}-keys",
            node=node,
            rule=f"self.all(k, {shape})",
            message=f"every key of {node} must be {meaning}",
            message_expression=(
                f"'{node} key \"' + self.filter(k, !({shape}))[0] + '\" must be {meaning}'"
            ),
        ),
        Rule(
            name=f"{slug}-key-prefixes",
            node=node,
            rule=f"self.all(k, {prefix})",
            message=f"a key of {node}: {PREFIX_TOO_LONG}",
            message_expression=(
                f"'{node} key \"' + self.filter(k, !({prefix}))[0] + '\": {PREFIX_TOO_LONG}'"
            ),
        ),
    )


_RWX = "ReadWriteMany"

RULES: Final[tuple[Rule, ...]] = (
    Rule(
        name="name-dns1035",
        node="",
        rule=f"self.metadata.name.matches('{DNS1035_LABEL_PATTERN}')",
        message=(
            "metadata.name must be a DNS-1035 label (lowercase letters, digits and hyphens, "
            "starting with a letter and ending with a letter or digit): it names the Service"
        ),
        message_expression=(
            "'metadata.name ' + self.metadata.name + ' must be a DNS-1035 label (lowercase "
            "letters, digits and hyphens, starting with a letter and ending with a letter or "
            "digit): it names the Service'"
        ),
        field_path=".metadata.name",
    ),
    Rule(
        name="request-timeout-covers-the-queue",
        node="spec.backend.timeouts",
        rule="self.requestSeconds > self.queueSeconds",
        message=(
            "spec.backend.timeouts.requestSeconds must exceed queueSeconds: the queue wait "
            "counts toward the whole request"
        ),
        field_path=".requestSeconds",
    ),
    Rule(
        name="request-timeout-covers-the-first-token",
        node="spec.backend.timeouts",
        rule="self.requestSeconds >= self.firstTokenSeconds",
        message="spec.backend.timeouts.requestSeconds must be at least firstTokenSeconds",
        field_path=".requestSeconds",
    ),
    Rule(
        name="min-not-above-max",
        node="spec.autoscaling",
        rule="self.minReplicas <= self.maxReplicas",
        message="spec.autoscaling.minReplicas must not exceed spec.autoscaling.maxReplicas",
        field_path=".minReplicas",
    ),
    Rule(
        name="autoscaling-needs-a-target",
        node="spec.autoscaling",
        rule=(
            "!self.enabled || has(self.targetCPUUtilizationPercentage) "
            "|| has(self.targetMemoryUtilizationPercentage)"
        ),
        message=(
            "spec.autoscaling.targetCPUUtilizationPercentage or "
            "spec.autoscaling.targetMemoryUtilizationPercentage is required while "
            "spec.autoscaling.enabled is true"
        ),
        field_path=".targetCPUUtilizationPercentage",
        reason=FIELD_VALUE_REQUIRED,
    ),
    Rule(
        name="pvc-needs-size-or-claim",
        node="spec.model.storage",
        rule="self.type != 'PersistentVolumeClaim' || has(self.size) || has(self.claimName)",
        message=(
            "spec.model.storage.size or spec.model.storage.claimName is required for "
            "PersistentVolumeClaim storage: a size for a claim the operator creates, a "
            "claimName to mount an existing one"
        ),
        field_path=".size",
        reason=FIELD_VALUE_REQUIRED,
    ),
    Rule(
        name="claim-name-needs-pvc",
        node="spec.model.storage",
        rule="!has(self.claimName) || self.type == 'PersistentVolumeClaim'",
        message=(
            "spec.model.storage.claimName is only allowed when spec.model.storage.type is "
            "PersistentVolumeClaim"
        ),
        message_expression=(
            "'spec.model.storage.claimName is only allowed when spec.model.storage.type is "
            "PersistentVolumeClaim, not ' + self.type"
        ),
        field_path=".claimName",
        reason=FIELD_VALUE_FORBIDDEN,
    ),
    Rule(
        name="storage-class-needs-created-claim",
        node="spec.model.storage",
        rule="!has(self.storageClassName) || !has(self.claimName)",
        message=(
            "spec.model.storage.storageClassName applies to the claim the operator creates; "
            "it cannot be combined with spec.model.storage.claimName (an existing claim)"
        ),
        field_path=".storageClassName",
        reason=FIELD_VALUE_FORBIDDEN,
    ),
    Rule(
        name="single-writer-claim-single-replica",
        node="spec",
        rule=(
            "self.model.storage.type != 'PersistentVolumeClaim' "
            "|| has(self.model.storage.claimName) "
            f"|| self.model.storage.accessMode == '{_RWX}' "
            "|| (self.autoscaling.enabled ? self.autoscaling.maxReplicas <= 1 "
            ": self.replicas <= 1)"
        ),
        message=(
            "spec.model.storage.accessMode ReadWriteOnce or ReadWriteOncePod lets only one "
            "pod use the model claim: set it to ReadWriteMany, or run at most 1 replica "
            "(spec.replicas, or spec.autoscaling.maxReplicas while autoscaling)"
        ),
        field_path=".model.storage.accessMode",
    ),
    Rule(
        name="never-pull-needs-persistent-storage",
        node="spec.model",
        rule="self.pullPolicy != 'Never' || self.storage.type == 'PersistentVolumeClaim'",
        message=(
            "spec.model.pullPolicy Never needs spec.model.storage.type PersistentVolumeClaim "
            "holding the model: an EmptyDir volume starts empty, so no pod would become Ready"
        ),
        field_path=".pullPolicy",
    ),
    Rule(
        name="node-port-needs-node-port-service",
        node="spec.service",
        rule="!has(self.nodePort) || self.type == 'NodePort' || self.type == 'LoadBalancer'",
        message=(
            "spec.service.nodePort is only allowed when spec.service.type is NodePort or "
            "LoadBalancer"
        ),
        message_expression=(
            "'spec.service.nodePort is only allowed when spec.service.type is NodePort or "
            "LoadBalancer, not ' + self.type"
        ),
        field_path=".nodePort",
        reason=FIELD_VALUE_FORBIDDEN,
    ),
    Rule(
        name="backend-port-not-ollama-port",
        node="spec.backend",
        rule=f"self.port != {OLLAMA_PORT}",
        message=(
            f"spec.backend.port must not be {OLLAMA_PORT}: the Ollama sidecar listens on it "
            "in the same pod"
        ),
        field_path=".port",
    ),
    _request_for_target("backend", "cpu", "targetCPUUtilizationPercentage"),
    _request_for_target("ollama", "cpu", "targetCPUUtilizationPercentage"),
    _request_for_target("backend", "memory", "targetMemoryUtilizationPercentage"),
    _request_for_target("ollama", "memory", "targetMemoryUtilizationPercentage"),
    _limit_covers_request("backend", "cpu"),
    _limit_covers_request("backend", "memory"),
    _limit_covers_request("ollama", "cpu"),
    _limit_covers_request("ollama", "memory"),
    Rule(
        name="gpu-resource-not-set-twice",
        node="spec",
        rule=(
            "self.gpu.count == 0 || (!(self.gpu.resourceName in self.ollama.resources.limits) "
            "&& !(self.gpu.resourceName in self.ollama.resources.requests))"
        ),
        message=(
            "spec.ollama.resources must not set the GPU resource named by "
            "spec.gpu.resourceName while spec.gpu.count is above 0: the operator requests "
            "spec.gpu.count of it"
        ),
        field_path=".ollama.resources",
        reason=FIELD_VALUE_FORBIDDEN,
    ),
    *_keys("spec.pod.labels", QUALIFIED_NAME_PATTERN, QUALIFIED_NAME_MEANING),
    *_keys("spec.pod.annotations", QUALIFIED_NAME_PATTERN, QUALIFIED_NAME_MEANING),
    *_keys("spec.pod.nodeSelector", QUALIFIED_NAME_PATTERN, QUALIFIED_NAME_MEANING),
    *_keys("spec.service.annotations", QUALIFIED_NAME_PATTERN, QUALIFIED_NAME_MEANING),
    *_keys(
        "spec.backend.resources.requests", CONTAINER_RESOURCE_NAME_PATTERN, RESOURCE_NAME_MEANING
    ),
    *_keys("spec.backend.resources.limits", CONTAINER_RESOURCE_NAME_PATTERN, RESOURCE_NAME_MEANING),
    *_keys(
        "spec.ollama.resources.requests", CONTAINER_RESOURCE_NAME_PATTERN, RESOURCE_NAME_MEANING
    ),
    *_keys("spec.ollama.resources.limits", CONTAINER_RESOURCE_NAME_PATTERN, RESOURCE_NAME_MEANING),
    Rule(
        name="backend-env-names-unique",
        node="spec.backend.env",
        rule="self.all(e, self.filter(f, f.name == e.name).size() == 1)",
        message="spec.backend.env must not name a variable twice",
        reason=FIELD_VALUE_DUPLICATE,
    ),
    Rule(
        name="ollama-env-names-unique",
        node="spec.ollama.env",
        rule="self.all(e, self.filter(f, f.name == e.name).size() == 1)",
        message="spec.ollama.env must not name a variable twice",
        reason=FIELD_VALUE_DUPLICATE,
    ),
    Rule(
        name="backend-env-value-or-value-from",
        node="spec.backend.env[*]",
        rule="!(has(self.value) && has(self.valueFrom))",
        message="a spec.backend.env entry takes value or valueFrom, not both",
        message_expression=(
            "'spec.backend.env entry ' + self.name + ' takes value or valueFrom, not both'"
        ),
        field_path=".valueFrom",
        reason=FIELD_VALUE_FORBIDDEN,
    ),
    Rule(
        name="ollama-env-value-or-value-from",
        node="spec.ollama.env[*]",
        rule="!(has(self.value) && has(self.valueFrom))",
        message="a spec.ollama.env entry takes value or valueFrom, not both",
        message_expression=(
            "'spec.ollama.env entry ' + self.name + ' takes value or valueFrom, not both'"
        ),
        field_path=".valueFrom",
        reason=FIELD_VALUE_FORBIDDEN,
    ),
)


def rules_at(node: str) -> list[Rule]:
    """The rules attached to one schema node."""
    return [rule for rule in RULES if rule.node == node]


def nodes() -> list[str]:
    """Every node that carries a rule, in first-appearance order."""
    seen: dict[str, None] = {}
    for rule in RULES:
        seen.setdefault(rule.node, None)
    return list(seen)
