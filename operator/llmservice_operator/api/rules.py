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
    ANNOTATIONS_MAX_BYTES,
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


def _request_for_target(container: str, resource: str, target: str, metric: str) -> Rule:
    """An HPA utilization target needs a request on every container to measure against.

    The target is ``metric`` in spec.autoscaling.metrics when that list is set, else the
    ``target`` field (targetCPUUtilizationPercentage, targetMemoryUtilizationPercentage).
    """
    scales_on = (
        f"(has(self.autoscaling.metrics) ? self.autoscaling.metrics.exists(m, m.type == "
        f"'{metric}') : has(self.autoscaling.{target}))"
    )
    return Rule(
        name=f"{container}-{resource}-request-for-autoscaling",
        node="spec",
        rule=(
            f"!self.autoscaling.enabled || !{scales_on} "
            f"|| '{resource}' in self.{container}.resources.requests"
        ),
        message=(
            f"spec.{container}.resources.requests.{resource} is required while the "
            f"autoscaler scales on {resource} (spec.autoscaling.{target}, or a "
            f"spec.autoscaling.metrics entry of type {metric}): it measures {resource} use "
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


def _slug(node: str) -> str:
    """A rule-name fragment for a schema path: ``pod-affinity-...-matchLabels``."""
    return node.removeprefix("spec.").replace("[*]", "").replace(".", "-")


def _keys(node: str, pattern: str, meaning: str) -> tuple[Rule, Rule]:
    """The keys of the map at ``node`` match ``pattern`` and have a short enough prefix.

    A structural schema cannot constrain map keys, so CEL does. The map has maxProperties
    and the rule never touches its values, which keeps the estimated cost small. Inside
    lists (``[*]`` in ``node``) the message names the field but not the key: a
    ``messageExpression`` with a ``filter`` there would multiply its cost by every list's
    length.
    """
    shape = f"k.size() <= {QUALIFIED_NAME_MAX_LENGTH} && k.matches('{pattern}')"
    prefix = f"k.indexOf('/') <= {KEY_PREFIX_MAX_LENGTH}"
    in_list = "[*]" in node
    return (
        Rule(
            name=f"{_slug(node)}-keys",
            node=node,
            rule=f"self.all(k, {shape})",
            message=f"every key of {node} must be {meaning}",
            message_expression=None
            if in_list
            else f"'{node} key \"' + self.filter(k, !({shape}))[0] + '\" must be {meaning}'",
        ),
        Rule(
            name=f"{_slug(node)}-key-prefixes",
            node=node,
            rule=f"self.all(k, {prefix})",
            message=f"a key of {node}: {PREFIX_TOO_LONG}",
            message_expression=None
            if in_list
            else f"'{node} key \"' + self.filter(k, !({prefix}))[0] + '\": {PREFIX_TOO_LONG}'",
        ),
    )


def _container_resource_rules(container: str) -> tuple[Rule, ...]:
    """What the API server requires of one container's requests and limits beyond each
    value: limits at least the requests (cpu, memory, ephemeral-storage, each by name), a
    limit for every resource that cannot be overcommitted (hugepages, extended resources),
    and cpu or memory beside hugepages. Whole-unit and equal-to-limit values of extended
    resources and hugepages are checked by ``childchecks`` instead: they need quantities
    parsed in a loop, which the cost budget does not allow."""
    node = f"spec.{container}.resources"
    overcommitted = "k in ['cpu', 'memory', 'ephemeral-storage'] || k.contains('kubernetes.io/')"
    hugepages = (
        "self.requests.exists(k, k.startsWith('hugepages-')) "
        "|| self.limits.exists(k, k.startsWith('hugepages-'))"
    )
    cpu_or_memory = (
        "'cpu' in self.requests || 'memory' in self.requests "
        "|| 'cpu' in self.limits || 'memory' in self.limits"
    )
    return (
        _limit_covers_request(container, "cpu"),
        _limit_covers_request(container, "memory"),
        _limit_covers_request(container, "ephemeral-storage"),
        Rule(
            name=f"{container}-limit-for-every-fixed-resource",
            node=node,
            rule=f"self.requests.all(k, {overcommitted} || k in self.limits)",
            message=(
                f"{node}.limits must name every hugepages or extended resource that "
                f"{node}.requests names, with the same amount: such resources cannot be "
                "overcommitted"
            ),
            field_path=".limits",
            reason=FIELD_VALUE_REQUIRED,
        ),
        Rule(
            name=f"{container}-hugepages-need-cpu-or-memory",
            node=node,
            rule=f"!({hugepages}) || {cpu_or_memory}",
            message=f"{node}: hugepages need a cpu or memory request or limit beside them",
            reason=FIELD_VALUE_FORBIDDEN,
        ),
    )


def _annotations_size(node: str) -> Rule:
    """Keys and values within the API server's limit on an object's annotations, counted
    in bytes as it counts them. The values have a maxLength, which bounds the cost of
    ``bytes()``."""
    return Rule(
        name=f"{_slug(node)}-size",
        node=node,
        rule=(
            f"self.map(k, bytes(k).size() + bytes(self[k]).size()).sum() <= {ANNOTATIONS_MAX_BYTES}"
        ),
        message=(
            f"{node} must take at most {ANNOTATIONS_MAX_BYTES} bytes in all (keys and values): "
            "the API server refuses more than 256 KiB, and the operator adds its own"
        ),
        reason=FIELD_VALUE_INVALID,
    )


def _value_from(container: str) -> Rule:
    sources = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
    count = " + ".join(f"(has(self.{source}) ? 1 : 0)" for source in sources)
    return Rule(
        name=f"{container}-env-value-from-one-source",
        node=f"spec.{container}.env[*].valueFrom",
        rule=f"{count} == 1",
        message=(
            f"spec.{container}.env[*].valueFrom must name exactly one of fieldRef, "
            "resourceFieldRef, configMapKeyRef and secretKeyRef"
        ),
    )


_SPLIT_PREFIX = f"indexOf('/') <= {KEY_PREFIX_MAX_LENGTH}"


def _selector_requirement(node: str, *, numeric: bool) -> tuple[Rule, ...]:
    """The values a label (or node) selector requirement at ``node`` must have for its
    operator, and its key's prefix length; ``numeric`` adds Gt and Lt (node selectors)."""
    rules = [
        Rule(
            name=f"{_slug(node)}-values-for-in",
            node=node,
            rule=(
                "!(self.operator in ['In', 'NotIn']) "
                "|| (has(self.values) && self.values.size() > 0)"
            ),
            message=f"{node}.values must be given when operator is In or NotIn",
            field_path=".values",
            reason=FIELD_VALUE_REQUIRED,
        ),
        Rule(
            name=f"{_slug(node)}-no-values-for-exists",
            node=node,
            rule=(
                "!(self.operator in ['Exists', 'DoesNotExist']) "
                "|| !has(self.values) || self.values.size() == 0"
            ),
            message=f"{node}.values must be empty when operator is Exists or DoesNotExist",
            field_path=".values",
            reason=FIELD_VALUE_FORBIDDEN,
        ),
        Rule(
            name=f"{_slug(node)}-key-prefix",
            node=node,
            rule=f"self.key.{_SPLIT_PREFIX}",
            message=f"{node}.key: {PREFIX_TOO_LONG}",
            field_path=".key",
        ),
    ]
    if numeric:
        rules.append(
            Rule(
                name=f"{_slug(node)}-one-number-for-gt",
                node=node,
                rule=(
                    "!(self.operator in ['Gt', 'Lt']) || (has(self.values) "
                    "&& self.values.size() == 1 && self.values[0].matches('^[0-9]+$'))"
                ),
                message=(
                    f"{node}.values must be a single whole number when operator is Gt or Lt "
                    "(the node label's value is compared with it)"
                ),
                field_path=".values",
            )
        )
    return tuple(rules)


def _pod_affinity_term(node: str) -> tuple[Rule, ...]:
    """A pod affinity term at ``node``: its selectors, and matchLabelKeys and
    mismatchLabelKeys, which need a labelSelector and must not share a key."""
    match, mismatch = "self.matchLabelKeys", "self.mismatchLabelKeys"
    none = "(!has({0}) || {0}.size() == 0)"
    rules: list[Rule] = [
        Rule(
            name=f"{_slug(node)}-label-keys-need-a-selector",
            node=node,
            rule=f"has(self.labelSelector) || ({none.format(match)} && {none.format(mismatch)})",
            message=f"{node}.matchLabelKeys and mismatchLabelKeys need a labelSelector",
            field_path=".labelSelector",
            reason=FIELD_VALUE_REQUIRED,
        ),
        Rule(
            name=f"{_slug(node)}-label-keys-disjoint",
            node=node,
            rule=f"!has({match}) || !has({mismatch}) || !{match}.exists(k, k in {mismatch})",
            message=f"{node}: a key must not be in both matchLabelKeys and mismatchLabelKeys",
            field_path=".mismatchLabelKeys",
        ),
        Rule(
            name=f"{_slug(node)}-key-prefixes",
            node=node,
            rule=(
                f"self.topologyKey.{_SPLIT_PREFIX} "
                f"&& (!has({match}) || {match}.all(k, k.{_SPLIT_PREFIX})) "
                f"&& (!has({mismatch}) || {mismatch}.all(k, k.{_SPLIT_PREFIX}))"
            ),
            message=(
                f"{node}.topologyKey, matchLabelKeys and mismatchLabelKeys: {PREFIX_TOO_LONG}"
            ),
        ),
    ]
    for selector in ("labelSelector", "namespaceSelector"):
        rules.extend(_selector_requirement(f"{node}.{selector}.matchExpressions[*]", numeric=False))
        rules.extend(
            _keys(f"{node}.{selector}.matchLabels", QUALIFIED_NAME_PATTERN, QUALIFIED_NAME_MEANING)
        )
    return tuple(rules)


def _affinity_rules() -> tuple[Rule, ...]:
    """Every rule of spec.pod.affinity, at each place its Kubernetes types appear."""
    node_affinity = "spec.pod.affinity.nodeAffinity"
    rules: list[Rule] = []
    for terms in (
        f"{node_affinity}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[*]",
        f"{node_affinity}.preferredDuringSchedulingIgnoredDuringExecution[*].preference",
    ):
        rules.extend(_selector_requirement(f"{terms}.matchExpressions[*]", numeric=True))
    for kind in ("podAffinity", "podAntiAffinity"):
        base = f"spec.pod.affinity.{kind}"
        rules.extend(
            _pod_affinity_term(f"{base}.requiredDuringSchedulingIgnoredDuringExecution[*]")
        )
        rules.extend(
            _pod_affinity_term(
                f"{base}.preferredDuringSchedulingIgnoredDuringExecution[*].podAffinityTerm"
            )
        )
    return tuple(rules)


_TOLERATIONS: Final = "spec.pod.tolerations[*]"
_TOLERATION_RULES: Final = (
    Rule(
        name="toleration-empty-key-needs-exists",
        node=_TOLERATIONS,
        rule=(
            "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')"
        ),
        message=(
            "spec.pod.tolerations[*].operator must be Exists when key is empty (a toleration "
            "of every taint); unset, operator means Equal"
        ),
        field_path=".operator",
    ),
    Rule(
        name="toleration-exists-takes-no-value",
        node=_TOLERATIONS,
        rule=(
            "!has(self.operator) || self.operator != 'Exists' "
            "|| !has(self.value) || self.value == ''"
        ),
        message="spec.pod.tolerations[*].value must be empty when operator is Exists",
        field_path=".value",
        reason=FIELD_VALUE_FORBIDDEN,
    ),
    Rule(
        name="toleration-seconds-need-no-execute",
        node=_TOLERATIONS,
        rule="!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
        message="spec.pod.tolerations[*].effect must be NoExecute when tolerationSeconds is set",
        field_path=".effect",
    ),
    Rule(
        name="toleration-key-prefix",
        node=_TOLERATIONS,
        rule=f"!has(self.key) || self.key.{_SPLIT_PREFIX}",
        message=f"spec.pod.tolerations[*].key: {PREFIX_TOO_LONG}",
        field_path=".key",
    ),
)


_UTILIZATION = "['CPU', 'Memory']"


def _per_pod_target_below(metric: str, bound: str, why: str) -> Rule:
    """A per-pod target the pods can exceed: one at or above the most a pod can hold
    (its slots, its queue) would never be exceeded, so the autoscaler would never add pods."""
    return Rule(
        name=f"{metric.lower()}-target-below-{bound.rsplit('.', 1)[-1]}",
        node="spec",
        rule=(
            "!self.autoscaling.enabled || !has(self.autoscaling.metrics) "
            f"|| self.autoscaling.metrics.all(m, m.type != '{metric}' "
            f"|| !has(m.targetAverageValue) || m.targetAverageValue < self.{bound})"
        ),
        message=(
            f"spec.autoscaling.metrics: the {metric} targetAverageValue must be below "
            f"spec.{bound}: {why}, so the autoscaler would never add pods"
        ),
        field_path=".autoscaling.metrics",
    )


# spec.autoscaling.metrics and behavior.
_SCALING_RULES: Final = (
    Rule(
        name="metrics-not-empty",
        node="spec.autoscaling",
        rule="!has(self.metrics) || size(self.metrics) > 0",
        message=(
            "spec.autoscaling.metrics must list at least one metric; leave it out to scale "
            "on targetCPUUtilizationPercentage and targetMemoryUtilizationPercentage"
        ),
        field_path=".metrics",
        reason=FIELD_VALUE_REQUIRED,
    ),
    Rule(
        name="metric-types-unique",
        node="spec.autoscaling.metrics",
        rule="self.all(m, self.filter(n, n.type == m.type).size() == 1)",
        # Invalid, not Duplicate: kube-apiserver reports a Duplicate without the message.
        message="spec.autoscaling.metrics must not name a metric type twice",
    ),
    Rule(
        name="metric-has-its-target",
        node="spec.autoscaling.metrics[*]",
        rule=(
            f"self.type in {_UTILIZATION} ? has(self.targetUtilizationPercentage) "
            ": has(self.targetAverageValue)"
        ),
        message=(
            "a spec.autoscaling.metrics entry needs its target: targetUtilizationPercentage "
            "for CPU and Memory, targetAverageValue for InFlightRequests and QueuedRequests"
        ),
        message_expression=(
            "'spec.autoscaling.metrics entry ' + self.type + ' needs ' + "
            f"(self.type in {_UTILIZATION} ? 'targetUtilizationPercentage' "
            ": 'targetAverageValue')"
        ),
        reason=FIELD_VALUE_REQUIRED,
    ),
    Rule(
        name="utilization-metric-takes-a-percentage",
        node="spec.autoscaling.metrics[*]",
        rule=(
            f"!(self.type in {_UTILIZATION}) "
            "|| (!has(self.targetAverageValue) && !has(self.metricName))"
        ),
        message=(
            "a spec.autoscaling.metrics entry of type CPU or Memory takes "
            "targetUtilizationPercentage only, not targetAverageValue or metricName"
        ),
        reason=FIELD_VALUE_FORBIDDEN,
    ),
    Rule(
        name="per-pod-metric-takes-an-average",
        node="spec.autoscaling.metrics[*]",
        rule=f"self.type in {_UTILIZATION} || !has(self.targetUtilizationPercentage)",
        message=(
            "a spec.autoscaling.metrics entry of type InFlightRequests or QueuedRequests "
            "takes targetAverageValue, not targetUtilizationPercentage"
        ),
        field_path=".targetUtilizationPercentage",
        reason=FIELD_VALUE_FORBIDDEN,
    ),
    _per_pod_target_below(
        "InFlightRequests",
        "backend.maxConcurrentRequests",
        "a pod never has more requests in flight than its slots",
    ),
    _per_pod_target_below(
        "QueuedRequests",
        "backend.maxQueuedRequests",
        "a pod never queues more requests than that",
    ),
)

# spec.podDisruptionBudget and spec.pod.topologySpreadConstraints.
_FLOOR = "(self.autoscaling.enabled ? self.autoscaling.minReplicas : self.replicas)"
_MOST = "(self.autoscaling.enabled ? self.autoscaling.maxReplicas : self.replicas)"
_DISRUPTION_RULES: Final = (
    Rule(
        name="budget-max-or-min",
        node="spec.podDisruptionBudget",
        rule="!has(self.maxUnavailable) || !has(self.minAvailable)",
        message=("spec.podDisruptionBudget takes maxUnavailable or minAvailable, not both"),
        field_path=".minAvailable",
        reason=FIELD_VALUE_FORBIDDEN,
    ),
    Rule(
        name="budget-min-available-below-the-floor",
        node="spec",
        rule=(
            "!self.podDisruptionBudget.enabled || !has(self.podDisruptionBudget.minAvailable) "
            "|| type(self.podDisruptionBudget.minAvailable) != int "
            f"|| {_MOST} < 2 || self.podDisruptionBudget.minAvailable < {_FLOOR}"
        ),
        message=(
            "spec.podDisruptionBudget.minAvailable must be below the fewest pods the service "
            "runs (spec.replicas, or spec.autoscaling.minReplicas while autoscaling): at that "
            "count no drain could ever evict a pod"
        ),
        field_path=".podDisruptionBudget.minAvailable",
    ),
    Rule(
        name="spread-min-domains-needs-do-not-schedule",
        node="spec.pod.topologySpreadConstraints[*]",
        rule="!has(self.minDomains) || self.whenUnsatisfiable == 'DoNotSchedule'",
        message=(
            "spec.pod.topologySpreadConstraints: minDomains is only allowed with "
            "whenUnsatisfiable DoNotSchedule"
        ),
        field_path=".minDomains",
        reason=FIELD_VALUE_FORBIDDEN,
    ),
    Rule(
        name="spread-keys-unique",
        node="spec.pod.topologySpreadConstraints",
        rule=(
            "self.all(c, self.filter(d, d.topologyKey == c.topologyKey "
            "&& d.whenUnsatisfiable == c.whenUnsatisfiable).size() == 1)"
        ),
        message=(
            "spec.pod.topologySpreadConstraints must not repeat a topologyKey with the same "
            "whenUnsatisfiable"
        ),
    ),
)

_RWX = "ReadWriteMany"

# What shows the service to the cluster (api/exposure.py): the combinations a child cannot
# be built from, and the map keys the schema cannot check.
_EXPOSURE_RULES: Final[tuple[Rule, ...]] = (
    Rule(
        name="route-one-kind",
        node="spec.route",
        rule="has(self.httpRoute) != has(self.ingress)",
        message=(
            "spec.route takes exactly one of spec.route.httpRoute (a Gateway API HTTPRoute) "
            "or spec.route.ingress (an Ingress), not both and not neither"
        ),
    ),
    Rule(
        name="ingress-tls-needs-host",
        node="spec.route.ingress",
        rule="!has(self.tlsSecretName) || has(self.host)",
        message=(
            "spec.route.ingress.tlsSecretName needs spec.route.ingress.host: the TLS "
            "certificate is served for that host name"
        ),
        field_path=".tlsSecretName",
        reason=FIELD_VALUE_FORBIDDEN,
    ),
    Rule(
        name="monitored-through-the-policy",
        node="spec",
        rule=(
            "!(self.monitoring.enabled && self.networkPolicy.enabled) "
            "|| size(self.networkPolicy.metricsFromNamespaces) > 0"
        ),
        message=(
            "spec.networkPolicy.metricsFromNamespaces must name Prometheus's namespace while "
            "spec.monitoring and spec.networkPolicy are both enabled: the policy would refuse "
            "every scrape of the metrics port"
        ),
        field_path=".networkPolicy.metricsFromNamespaces",
        reason=FIELD_VALUE_REQUIRED,
    ),
    Rule(
        name="route-hostnames-unique",
        node="spec.route.httpRoute.hostnames",
        rule="self.all(h, self.filter(g, g == h).size() == 1)",
        message="spec.route.httpRoute.hostnames must not name a host twice",
        reason=FIELD_VALUE_DUPLICATE,
    ),
    *_keys("spec.monitoring.labels", QUALIFIED_NAME_PATTERN, QUALIFIED_NAME_MEANING),
    *_keys("spec.route.ingress.annotations", QUALIFIED_NAME_PATTERN, QUALIFIED_NAME_MEANING),
    _annotations_size("spec.route.ingress.annotations"),
    *_keys(
        "spec.networkPolicy.allowFrom[*].podLabels", QUALIFIED_NAME_PATTERN, QUALIFIED_NAME_MEANING
    ),
)

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
            "!self.enabled || has(self.metrics) || has(self.targetCPUUtilizationPercentage) "
            "|| has(self.targetMemoryUtilizationPercentage)"
        ),
        message=(
            "spec.autoscaling.targetCPUUtilizationPercentage, "
            "spec.autoscaling.targetMemoryUtilizationPercentage or spec.autoscaling.metrics "
            "is required while spec.autoscaling.enabled is true"
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
    _request_for_target("backend", "cpu", "targetCPUUtilizationPercentage", "CPU"),
    _request_for_target("ollama", "cpu", "targetCPUUtilizationPercentage", "CPU"),
    _request_for_target("backend", "memory", "targetMemoryUtilizationPercentage", "Memory"),
    _request_for_target("ollama", "memory", "targetMemoryUtilizationPercentage", "Memory"),
    *_SCALING_RULES,
    *_DISRUPTION_RULES,
    *_container_resource_rules("backend"),
    *_container_resource_rules("ollama"),
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
    _annotations_size("spec.pod.annotations"),
    *_keys("spec.pod.nodeSelector", QUALIFIED_NAME_PATTERN, QUALIFIED_NAME_MEANING),
    *_keys("spec.service.annotations", QUALIFIED_NAME_PATTERN, QUALIFIED_NAME_MEANING),
    _annotations_size("spec.service.annotations"),
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
    _value_from("backend"),
    _value_from("ollama"),
    *_TOLERATION_RULES,
    *_affinity_rules(),
    *_EXPOSURE_RULES,
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
