"""A table of bad LLMServices, each with how it must end, shared by the offline test
(tests/unit/test_bad_specs.py: render, and the CRD's checks as the API server makes them)
and the real control plane (tests/cluster/test_real_bad_specs.py: ``kubectl apply``, then
the operator).

Every case is YAML text as a user writes it (so the YAML reading is part of each case) and
ends one of two ways:

- ``APPLY``: the API server refuses it at ``kubectl apply``, naming ``field``: the CRD's
  schema, its CEL rules or strict field validation;
- ``INVALID_SPEC``: the API server stores it, and the operator reports it ``Failed`` with
  reason ``InvalidSpec``, naming ``field``, and writes nothing more until the spec changes:
  either the operator's own reading finds it (``api.childchecks``: what the CEL budget cannot
  check) or the API server refuses a child (``needs`` names what the cluster must hold for
  that, such as a Service already holding a node port).

``render`` refuses every case offline too, naming the same field, except those that depend
on the cluster's state (``needs`` set).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Final, Literal

APPLY: Final = "refused at apply"
INVALID_SPEC: Final = "InvalidSpec"
Outcome = Literal["refused at apply", "InvalidSpec"]
# A node port the table's cluster-state case takes from another Service first.
TAKEN_NODE_PORT: Final = 31999


@dataclass(frozen=True)
class BadSpec:
    """One bad LLMService: its id (also its name), its spec as YAML, how it ends."""

    id: str
    spec: str  # the YAML under ``spec:``, as written in a file
    outcome: Outcome
    field: str  # what every refusal must name
    fragment: str = ""  # a part of the message, where it matters
    name: str | None = None  # metadata.name when the case is about it
    # Applied with --server-side where client-side ``kubectl apply`` cannot send the spec
    # as written: it copies the whole object into an annotation (which the API server
    # refuses first for specs this large), and it drops nulls (so a null target or size
    # becomes its default again).
    server_side: bool = False
    needs: str | None = None  # cluster state the case depends on (render cannot see it)

    def document(self) -> str:
        """The LLMService file of this case."""
        body = textwrap.indent(textwrap.dedent(self.spec).strip("\n"), "  ")
        return (
            "apiVersion: llmservice.dev/v1alpha1\nkind: LLMService\n"
            f"metadata:\n  name: {self.name or self.id}\nspec:\n{body}\n"
        )


def _big(count: int, size: int, char: str = "x") -> str:
    return "\n".join(f"    k{i}: {char * size}" for i in range(count))


def _affinity(kind: str, term: str) -> str:
    return f"pod:\n  affinity:\n    {kind}:\n{textwrap.indent(textwrap.dedent(term), '      ')}"


_NODE_TERM = """\
requiredDuringSchedulingIgnoredDuringExecution:
  nodeSelectorTerms:
    - matchExpressions:
        - {expression}
"""
_POD_TERM = """\
requiredDuringSchedulingIgnoredDuringExecution:
  - {term}
"""
_FIXED = "replicas: 1\nautoscaling: {enabled: false}\n"
_ND = "spec.pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
_PA = "spec.pod.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]"
_BE = "spec.backend.env[0].valueFrom"
_OR = "spec.ollama.resources"


def _node(expression: str) -> str:
    return _affinity("nodeAffinity", _NODE_TERM.format(expression=expression))


def _pod(term: str) -> str:
    return _affinity("podAffinity", _POD_TERM.format(term=term))


def _env(source: str) -> str:
    return f"backend:\n  env:\n    - name: V\n      valueFrom: {source}\n"


def _ollama(requests: str, limits: str = "{}") -> str:
    return f"{_FIXED}ollama:\n  resources:\n    requests: {requests}\n    limits: {limits}\n"


CASES: Final[tuple[BadSpec, ...]] = (
    # --- types, bounds and enums: the CRD's schema ------------------------------------
    BadSpec("replicas-negative", "replicas: -1", APPLY, "spec.replicas"),
    BadSpec("replicas-quoted", 'replicas: "2"', APPLY, "spec.replicas"),
    BadSpec("replicas-too-many", "replicas: 1001", APPLY, "spec.replicas"),
    BadSpec("replicas-a-fraction", "replicas: 2.5", APPLY, "spec.replicas"),
    BadSpec(
        "enabled-quoted-yes",
        'autoscaling: {enabled: "yes"}',
        APPLY,
        "spec.autoscaling.enabled",
    ),
    BadSpec(
        "min-replicas-zero", "autoscaling: {minReplicas: 0}", APPLY, "spec.autoscaling.minReplicas"
    ),
    BadSpec(
        "cpu-target-zero",
        "autoscaling: {targetCPUUtilizationPercentage: 0}",
        APPLY,
        "spec.autoscaling.targetCPUUtilizationPercentage",
    ),
    BadSpec("misspelt-field", "modle: {name: tinyllama}", APPLY, "spec.modle"),
    BadSpec("service-type-ingress", "service: {type: Ingress}", APPLY, "spec.service.type"),
    BadSpec(
        "node-port-80", "service: {type: NodePort, nodePort: 80}", APPLY, "spec.service.nodePort"
    ),
    BadSpec("backend-port-zero", "backend: {port: 0}", APPLY, "spec.backend.port"),
    BadSpec("model-name-with-spaces", 'model: {name: "Tiny Llama!"}', APPLY, "spec.model.name"),
    BadSpec("keep-alive-forever", "model: {keepAlive: forever}", APPLY, "spec.model.keepAlive"),
    BadSpec(
        "pull-policy-sometimes", "model: {pullPolicy: Sometimes}", APPLY, "spec.model.pullPolicy"
    ),
    BadSpec(
        "grace-period-zero",
        "pod: {terminationGracePeriodSeconds: 0}",
        APPLY,
        "spec.pod.terminationGracePeriodSeconds",
    ),
    BadSpec("too-many-gpus", "gpu: {count: 17}", APPLY, "spec.gpu.count"),
    BadSpec(
        "gpu-without-domain",
        "gpu: {count: 1, resourceName: gpu}",
        APPLY,
        "spec.gpu.resourceName",
    ),
    BadSpec("name-too-long", "{}", APPLY, "metadata.name", name="n" + "a" * 63),
    BadSpec(
        "secret-ref-bad-name",
        "backend: {apiKeySecretRef: {name: Chat_Key}}",
        APPLY,
        "spec.backend.apiKeySecretRef.name",
    ),
    BadSpec(
        "service-account-bad",
        "pod: {serviceAccountName: My_SA}",
        APPLY,
        "spec.pod.serviceAccountName",
    ),
    BadSpec(
        "pull-secret-bad",
        'pod: {imagePullSecrets: [{name: "Reg Cred"}]}',
        APPLY,
        "spec.pod.imagePullSecrets[0].name",
    ),
    BadSpec("label-value-space", 'pod: {labels: {app: "a b"}}', APPLY, "spec.pod.labels.app"),
    BadSpec(
        "too-many-labels",
        "pod:\n  labels:\n" + "\n".join(f"    l{i}: v" for i in range(33)),
        APPLY,
        "spec.pod.labels",
    ),
    BadSpec(
        "env-name-digit",
        "backend: {env: [{name: 1X, value: v}]}",
        APPLY,
        "spec.backend.env[0].name",
    ),
    # --- quantities: never negative, sizes above zero, no float -------------------------
    BadSpec(
        "cpu-negative",
        'backend: {resources: {requests: {cpu: "-1", memory: 128Mi}}}',
        APPLY,
        "spec.backend.resources.requests.cpu",
    ),
    BadSpec(
        "memory-negative-integer",
        "ollama: {resources: {requests: {cpu: 1, memory: 1Gi}, limits: {memory: -1}}}",
        APPLY,
        "spec.ollama.resources.limits.memory",
    ),
    BadSpec("storage-size-zero", "model: {storage: {size: 0}}", APPLY, "spec.model.storage.size"),
    BadSpec(
        "storage-size-negative",
        'model: {storage: {size: "-5Gi"}}',
        APPLY,
        "spec.model.storage.size",
    ),
    BadSpec(
        "cpu-unquoted-fraction",
        "backend: {resources: {requests: {cpu: 0.5, memory: 128Mi}}}",
        APPLY,
        "spec.backend.resources.requests.cpu",
    ),
    BadSpec(
        "cpu-unquoted-1e100",
        "backend: {resources: {requests: {cpu: 1e100, memory: 128Mi}}}",
        APPLY,
        "spec.backend.resources.requests.cpu",
    ),
    BadSpec(
        "memory-in-gigabits",
        "backend: {resources: {requests: {cpu: 1, memory: 2Gb}}}",
        APPLY,
        "spec.backend.resources.requests.memory",
    ),
    # --- images ---------------------------------------------------------------------------
    BadSpec("image-inner-space", 'ollama: {image: "ollama/ollama :1"}', APPLY, "spec.ollama.image"),
    BadSpec(
        "image-leading-space",
        'backend: {image: " ghcr.io/acme/chat:1"}',
        APPLY,
        "spec.backend.image",
    ),
    BadSpec("image-uppercase", "ollama: {image: Ollama/Ollama:1}", APPLY, "spec.ollama.image"),
    BadSpec("image-empty", 'backend: {image: ""}', APPLY, "spec.backend.image"),
    # --- tolerations ------------------------------------------------------------------------
    BadSpec(
        "toleration-unknown-field",
        "pod: {tolerations: [{foo: bar}]}",
        APPLY,
        "spec.pod.tolerations[0].foo",
    ),
    BadSpec(
        "toleration-effect-bogus",
        "pod: {tolerations: [{key: gpu, operator: Exists, effect: Bogus}]}",
        APPLY,
        "spec.pod.tolerations[0].effect",
    ),
    BadSpec(
        "toleration-operator-lt",
        "pod: {tolerations: [{key: gpu, operator: Lt, value: '3'}]}",
        APPLY,
        "spec.pod.tolerations[0].operator",
    ),
    BadSpec(
        "toleration-empty-key-equal",
        "pod: {tolerations: [{value: x}]}",
        APPLY,
        "spec.pod.tolerations[0].operator",
        "must be Exists when key is empty",
    ),
    BadSpec(
        "toleration-exists-with-value",
        "pod: {tolerations: [{key: gpu, operator: Exists, value: yes-please}]}",
        APPLY,
        "spec.pod.tolerations[0].value",
    ),
    BadSpec(
        "toleration-seconds-no-execute",
        "pod: {tolerations: [{key: gpu, operator: Exists, tolerationSeconds: 60}]}",
        APPLY,
        "spec.pod.tolerations[0].effect",
    ),
    BadSpec(
        "toleration-key-spaces",
        "pod: {tolerations: [{key: my key, operator: Exists}]}",
        APPLY,
        "spec.pod.tolerations[0].key",
    ),
    BadSpec(
        "toleration-value-too-long",
        f"pod: {{tolerations: [{{key: gpu, value: {'v' * 64}}}]}}",
        APPLY,
        "spec.pod.tolerations[0].value",
    ),
    # --- affinity ---------------------------------------------------------------------------
    BadSpec(
        "node-affinity-a-number",
        "pod: {affinity: {nodeAffinity: 5}}",
        APPLY,
        "spec.pod.affinity.nodeAffinity",
    ),
    BadSpec(
        "node-affinity-no-terms",
        "pod:\n  affinity:\n    nodeAffinity:\n"
        "      requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: []}",
        APPLY,
        f"{_ND}.nodeSelectorTerms",
    ),
    BadSpec(
        "node-affinity-in-without-values",
        _node("{key: pool, operator: In}"),
        APPLY,
        f"{_ND}.nodeSelectorTerms[0].matchExpressions[0].values",
    ),
    BadSpec(
        "node-affinity-exists-with-values",
        _node("{key: pool, operator: Exists, values: [llm]}"),
        APPLY,
        f"{_ND}.nodeSelectorTerms[0].matchExpressions[0].values",
    ),
    BadSpec(
        "node-affinity-gt-a-word",
        _node("{key: cores, operator: Gt, values: [many]}"),
        APPLY,
        f"{_ND}.nodeSelectorTerms[0].matchExpressions[0].values",
        "single whole number",
    ),
    BadSpec(
        "node-affinity-operator-near",
        _node("{key: pool, operator: Near, values: [llm]}"),
        APPLY,
        f"{_ND}.nodeSelectorTerms[0].matchExpressions[0].operator",
    ),
    BadSpec(
        "node-affinity-field-label",
        "pod:\n  affinity:\n    nodeAffinity:\n"
        "      requiredDuringSchedulingIgnoredDuringExecution:\n"
        "        nodeSelectorTerms:\n"
        "          - matchFields: [{key: metadata.labels, operator: In, values: [a]}]",
        APPLY,
        f"{_ND}.nodeSelectorTerms[0].matchFields[0].key",
    ),
    BadSpec(
        "preferred-weight-zero",
        "pod:\n  affinity:\n    podAntiAffinity:\n"
        "      preferredDuringSchedulingIgnoredDuringExecution:\n"
        "        - weight: 0\n"
        "          podAffinityTerm: {topologyKey: kubernetes.io/hostname}",
        APPLY,
        "spec.pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]"
        ".weight",
    ),
    BadSpec(
        "pod-affinity-no-topology-key",
        _pod("{labelSelector: {matchLabels: {app: db}}}"),
        APPLY,
        f"{_PA}.topologyKey",
    ),
    BadSpec(
        "pod-affinity-label-keys-alone",
        _pod("{topologyKey: kubernetes.io/hostname, matchLabelKeys: [app]}"),
        APPLY,
        f"{_PA}.labelSelector",
    ),
    BadSpec(
        "pod-affinity-key-both-ways",
        _pod(
            "{topologyKey: zone, labelSelector: {matchLabels: {a: b}}, "
            "matchLabelKeys: [app], mismatchLabelKeys: [app]}"
        ),
        APPLY,
        f"{_PA}.mismatchLabelKeys",
    ),
    BadSpec(
        "pod-affinity-bad-label-key",
        _pod('{topologyKey: zone, labelSelector: {matchLabels: {"my app": db}}}'),
        APPLY,
        f"{_PA}.labelSelector.matchLabels",
    ),
    BadSpec(
        "pod-affinity-bad-namespace",
        _pod("{topologyKey: zone, namespaces: [Team_A]}"),
        APPLY,
        f"{_PA}.namespaces[0]",
    ),
    # --- environment sources -----------------------------------------------------------------
    BadSpec("env-source-empty", _env("{}"), APPLY, _BE, "exactly one"),
    BadSpec(
        "env-source-unknown-key",
        _env("{secretKeyRef: {name: s, key: k}, vaultRef: {path: x}}"),
        APPLY,
        f"{_BE}.vaultRef",
    ),
    BadSpec(
        "env-secret-without-key",
        _env("{secretKeyRef: {name: s}}"),
        APPLY,
        f"{_BE}.secretKeyRef.key",
    ),
    BadSpec(
        "env-two-sources",
        _env("{secretKeyRef: {name: s, key: k}, fieldRef: {fieldPath: metadata.name}}"),
        APPLY,
        _BE,
        "exactly one",
    ),
    BadSpec(
        "env-field-path-unknown",
        _env("{fieldRef: {fieldPath: spec.nodeSelector}}"),
        APPLY,
        f"{_BE}.fieldRef.fieldPath",
    ),
    BadSpec(
        "env-resource-gpu",
        _env("{resourceFieldRef: {resource: limits.nvidia.com/gpu}}"),
        APPLY,
        f"{_BE}.resourceFieldRef.resource",
    ),
    BadSpec(
        "env-other-container",
        _env("{resourceFieldRef: {containerName: sidecar, resource: limits.cpu}}"),
        APPLY,
        f"{_BE}.resourceFieldRef.containerName",
    ),
    BadSpec(
        "env-config-key-spaces",
        _env("{configMapKeyRef: {name: c, key: my key}}"),
        APPLY,
        f"{_BE}.configMapKeyRef.key",
    ),
    # --- annotations -------------------------------------------------------------------------
    BadSpec(
        "pod-annotations-400kb",
        "pod:\n  annotations:\n" + _big(4, 100_000),
        APPLY,
        "spec.pod.annotations",
        "bytes",
        server_side=True,
    ),
    BadSpec(
        "pod-annotations-wide-chars",
        # 140,000 characters, 280,000 bytes: the limit counts bytes.
        "pod:\n  annotations:\n" + _big(2, 70_000, "é"),
        APPLY,
        "spec.pod.annotations",
        "bytes",
        server_side=True,
    ),
    BadSpec(
        "service-annotation-key-dash",
        'service: {annotations: {"-x": v}}',
        APPLY,
        "spec.service.annotations",
    ),
    # --- the CRD's cross-field rules -----------------------------------------------------------
    BadSpec(
        "min-above-max",
        "autoscaling: {minReplicas: 7, maxReplicas: 6}",
        APPLY,
        "spec.autoscaling.minReplicas",
    ),
    BadSpec(
        "autoscaling-without-targets",
        "autoscaling:\n  targetCPUUtilizationPercentage: null\n"
        "  targetMemoryUtilizationPercentage: null",
        APPLY,
        "spec.autoscaling.targetCPUUtilizationPercentage",
        server_side=True,
    ),
    BadSpec(
        "claim-without-size",
        "model: {storage: {type: PersistentVolumeClaim, size: null}}",
        APPLY,
        "spec.model.storage.size",
        server_side=True,
    ),
    BadSpec(
        "claim-name-on-emptydir",
        "model: {storage: {claimName: models}}",
        APPLY,
        "spec.model.storage.claimName",
    ),
    BadSpec(
        "single-writer-claim-scaled",
        "model: {storage: {type: PersistentVolumeClaim, size: 5Gi}}",
        APPLY,
        "spec.model.storage.accessMode",
    ),
    BadSpec("never-pull-empty-dir", "model: {pullPolicy: Never}", APPLY, "spec.model.pullPolicy"),
    BadSpec(
        "node-port-on-cluster-ip", "service: {nodePort: 30080}", APPLY, "spec.service.nodePort"
    ),
    BadSpec("backend-on-ollama-port", "backend: {port: 11434}", APPLY, "spec.backend.port"),
    BadSpec(
        "request-timeout-below-queue",
        "backend: {timeouts: {queueSeconds: 600, requestSeconds: 600}}",
        APPLY,
        "spec.backend.timeouts.requestSeconds",
    ),
    BadSpec(
        "cpu-request-missing",
        "backend: {resources: {requests: {memory: 128Mi}}}",
        APPLY,
        "spec.backend.resources.requests",
    ),
    BadSpec(
        "memory-limit-below-request",
        "backend: {resources: {requests: {cpu: 100m, memory: 1Gi}, limits: {memory: 512Mi}}}",
        APPLY,
        "spec.backend.resources.limits",
    ),
    BadSpec(
        "ephemeral-limit-below-request",
        _ollama("{cpu: 1, memory: 1Gi, ephemeral-storage: 2Gi}", "{ephemeral-storage: 1Gi}"),
        APPLY,
        f"{_OR}.limits",
        "ephemeral-storage",
    ),
    BadSpec(
        "extended-resource-no-limit",
        _ollama("{cpu: 1, memory: 1Gi, example.com/fpga: 1}"),
        APPLY,
        f"{_OR}.limits",
        "cannot be overcommitted",
    ),
    BadSpec(
        "hugepages-alone",
        _ollama("{hugepages-2Mi: 4Mi}", "{hugepages-2Mi: 4Mi}"),
        APPLY,
        _OR,
        "hugepages need a cpu or memory",
    ),
    BadSpec(
        "gpu-set-twice",
        "gpu: {count: 1}\nollama: {resources: {limits: {nvidia.com/gpu: 1}}}",
        APPLY,
        _OR,
        "GPU resource",
    ),
    BadSpec(
        "resource-without-domain",
        "ollama: {resources: {limits: {memory: 4Gi, gpu: 1}}}",
        APPLY,
        f"{_OR}.limits",
    ),
    BadSpec(
        "env-named-twice",
        "backend: {env: [{name: A, value: '1'}, {name: A, value: '2'}]}",
        APPLY,
        "spec.backend.env",
    ),
    BadSpec(
        "env-value-and-source",
        "ollama: {env: [{name: A, value: '1', valueFrom: {fieldRef: {fieldPath: metadata.uid}}}]}",
        APPLY,
        "spec.ollama.env[0].valueFrom",
    ),
    BadSpec("label-key-space", 'pod: {labels: {"Bad Key": x}}', APPLY, "spec.pod.labels"),
    BadSpec(
        "node-selector-two-slashes",
        "pod: {nodeSelector: {a/b/c: x}}",
        APPLY,
        "spec.pod.nodeSelector",
    ),
    BadSpec("name-starts-with-digit", "{}", APPLY, "metadata.name", name="9lives"),
    # --- what shows the service to the cluster (spec.route, .monitoring, .networkPolicy) ------
    BadSpec(
        "route-both-kinds",
        "route: {httpRoute: {parentRefs: [{name: gw}]}, ingress: {host: chat.example.com}}",
        APPLY,
        "spec.route",
        "exactly one of",
    ),
    BadSpec("route-neither-kind", "route: {}", APPLY, "spec.route", "exactly one of"),
    BadSpec(
        "ingress-tls-without-host",
        "route: {ingress: {tlsSecretName: chat-tls}}",
        APPLY,
        "spec.route.ingress.tlsSecretName",
        "needs spec.route.ingress.host",
    ),
    BadSpec(
        "http-route-without-parent",
        "route: {httpRoute: {parentRefs: []}}",
        APPLY,
        "spec.route.httpRoute.parentRefs",
    ),
    BadSpec(
        "http-route-host-uppercase",
        "route: {httpRoute: {parentRefs: [{name: gw}], hostnames: [Chat.Example.com]}}",
        APPLY,
        "spec.route.httpRoute.hostnames[0]",
    ),
    BadSpec(
        "http-route-host-twice",
        "route: {httpRoute: {parentRefs: [{name: gw}], hostnames: [a.example.com, a.example.com]}}",
        APPLY,
        "spec.route.httpRoute.hostnames",
        "twice",
    ),
    BadSpec(
        "monitoring-interval-not-a-duration",
        "monitoring: {enabled: true, interval: 30 seconds}",
        APPLY,
        "spec.monitoring.interval",
    ),
    BadSpec(
        "monitoring-label-key-bad",
        "monitoring: {enabled: true, labels: {-bad: x}}",
        APPLY,
        "spec.monitoring.labels",
    ),
    BadSpec(
        "monitored-but-policy-shuts-prometheus-out",
        "monitoring: {enabled: true}\nnetworkPolicy: {enabled: true}",
        APPLY,
        "spec.networkPolicy.metricsFromNamespaces",
        "refuse every scrape",
    ),
    BadSpec(
        "network-policy-namespace-bad",
        "networkPolicy: {enabled: true, allowFrom: [{namespace: Web_Apps}]}",
        APPLY,
        "spec.networkPolicy.allowFrom[0].namespace",
    ),
    BadSpec(
        "network-policy-pod-label-key-bad",
        "networkPolicy: {enabled: true, allowFrom: [{podLabels: {a/b/c: x}}]}",
        APPLY,
        "spec.networkPolicy.allowFrom",
    ),
    # --- stored, then InvalidSpec: what the CEL budget cannot check ----------------------------
    BadSpec(
        "fpga-half-a-unit",
        _ollama("{cpu: 1, memory: 1Gi, example.com/fpga: 500m}", "{example.com/fpga: 500m}"),
        INVALID_SPEC,
        f"{_OR}.requests[example.com/fpga]",
        "whole number",
    ),
    BadSpec(
        "fpga-request-below-limit",
        _ollama("{cpu: 1, memory: 1Gi, example.com/fpga: 1}", "{example.com/fpga: 2}"),
        INVALID_SPEC,
        f"{_OR}.requests[example.com/fpga]",
        "must equal its limit",
    ),
    BadSpec(
        "hugepages-odd-amount",
        _ollama("{cpu: 1, memory: 1Gi, hugepages-2Mi: 3Mi}", "{hugepages-2Mi: 3Mi}"),
        INVALID_SPEC,
        f"{_OR}.requests[hugepages-2Mi]",
        "2Mi pages",
    ),
    BadSpec(
        "hugepages-no-size",
        _ollama("{cpu: 1, memory: 1Gi, hugepages-big: 4Mi}", "{hugepages-big: 4Mi}"),
        INVALID_SPEC,
        f"{_OR}.requests[hugepages-big]",
        "names no page size",
    ),
    BadSpec(
        "divisor-mebibyte-for-cpu",
        _env("{resourceFieldRef: {resource: limits.cpu, divisor: 1Mi}}"),
        INVALID_SPEC,
        f"{_BE}.resourceFieldRef.divisor",
        "for cpu",
    ),
    # --- autoscaling metrics and behavior, disruption budget, topology spread -------------------
    BadSpec("metrics-empty", "autoscaling: {metrics: []}", APPLY, "spec.autoscaling.metrics"),
    BadSpec(
        "metrics-unknown-type",
        "autoscaling: {metrics: [{type: GPU, targetUtilizationPercentage: 50}]}",
        APPLY,
        "spec.autoscaling.metrics[0].type",
    ),
    BadSpec(
        "metrics-cpu-target-zero",
        "autoscaling: {metrics: [{type: CPU, targetUtilizationPercentage: 0}]}",
        APPLY,
        "spec.autoscaling.metrics[0].targetUtilizationPercentage",
    ),
    BadSpec(
        "metrics-memory-target-too-high",
        "autoscaling: {metrics: [{type: Memory, targetUtilizationPercentage: 1001}]}",
        APPLY,
        "spec.autoscaling.metrics[0].targetUtilizationPercentage",
    ),
    BadSpec(
        "metrics-in-flight-target-zero",
        "autoscaling: {metrics: [{type: InFlightRequests, targetAverageValue: 0}]}",
        APPLY,
        "spec.autoscaling.metrics[0].targetAverageValue",
    ),
    BadSpec(
        "metrics-in-flight-without-target",
        "autoscaling: {metrics: [{type: InFlightRequests}]}",
        APPLY,
        "spec.autoscaling.metrics[0]",
        "needs targetAverageValue",
    ),
    BadSpec(
        "metrics-cpu-without-target",
        "autoscaling: {metrics: [{type: CPU}]}",
        APPLY,
        "spec.autoscaling.metrics[0]",
        "needs targetUtilizationPercentage",
    ),
    BadSpec(
        "metrics-in-flight-at-the-slots",
        "autoscaling: {metrics: [{type: InFlightRequests, targetAverageValue: 4}]}",
        APPLY,
        "spec.autoscaling.metrics",
        "below spec.backend.maxConcurrentRequests",
    ),
    BadSpec(
        "metrics-queued-above-the-queue",
        "backend: {maxQueuedRequests: 8}\n"
        "autoscaling: {metrics: [{type: QueuedRequests, targetAverageValue: 9}]}",
        APPLY,
        "spec.autoscaling.metrics",
        "below spec.backend.maxQueuedRequests",
    ),
    BadSpec(
        "metrics-cpu-with-an-average",
        "autoscaling:\n  metrics:\n"
        "  - {type: CPU, targetUtilizationPercentage: 50, targetAverageValue: 3}",
        APPLY,
        "spec.autoscaling.metrics[0]",
        "targetUtilizationPercentage only",
    ),
    BadSpec(
        "metrics-in-flight-with-a-percentage",
        "autoscaling:\n  metrics:\n"
        "  - {type: InFlightRequests, targetAverageValue: 2, targetUtilizationPercentage: 50}",
        APPLY,
        "spec.autoscaling.metrics[0].targetUtilizationPercentage",
    ),
    BadSpec(
        "metrics-cpu-twice",
        "autoscaling:\n  metrics:\n"
        "  - {type: CPU, targetUtilizationPercentage: 50}\n"
        "  - {type: CPU, targetUtilizationPercentage: 60}",
        APPLY,
        "spec.autoscaling.metrics",
        "twice",
    ),
    BadSpec(
        "metrics-bad-metric-name",
        "autoscaling:\n  metrics:\n"
        "  - {type: QueuedRequests, targetAverageValue: 2, metricName: queue depth}",
        APPLY,
        "spec.autoscaling.metrics[0].metricName",
    ),
    BadSpec(
        "metrics-cpu-without-cpu-requests",
        "backend: {resources: {requests: {memory: 128Mi}}}\n"
        "autoscaling: {metrics: [{type: CPU, targetUtilizationPercentage: 60}]}",
        APPLY,
        "spec.backend.resources.requests",
        "scales on cpu",
    ),
    BadSpec(
        "behavior-period-too-long",
        "autoscaling:\n  behavior:\n    scaleUp:\n"
        "      policies: [{type: Pods, value: 1, periodSeconds: 1801}]",
        APPLY,
        "spec.autoscaling.behavior.scaleUp.policies[0].periodSeconds",
    ),
    BadSpec(
        "behavior-no-policies",
        "autoscaling: {behavior: {scaleDown: {policies: []}}}",
        APPLY,
        "spec.autoscaling.behavior.scaleDown.policies",
    ),
    BadSpec(
        "behavior-window-too-long",
        "autoscaling: {behavior: {scaleUp: {stabilizationWindowSeconds: 3601}}}",
        APPLY,
        "spec.autoscaling.behavior.scaleUp.stabilizationWindowSeconds",
    ),
    BadSpec(
        "behavior-policy-kind-unknown",
        "autoscaling:\n  behavior:\n    scaleDown:\n"
        "      policies: [{type: Nodes, value: 1, periodSeconds: 60}]",
        APPLY,
        "spec.autoscaling.behavior.scaleDown.policies[0].type",
    ),
    BadSpec(
        "budget-max-and-min",
        "podDisruptionBudget: {maxUnavailable: 1, minAvailable: 1}\nreplicas: 3\n"
        "autoscaling: {enabled: false}",
        APPLY,
        "spec.podDisruptionBudget.minAvailable",
        "not both",
    ),
    BadSpec(
        "budget-max-unavailable-zero",
        "podDisruptionBudget: {maxUnavailable: 0}",
        APPLY,
        "spec.podDisruptionBudget.maxUnavailable",
    ),
    BadSpec(
        "budget-percent-above-100",
        'podDisruptionBudget: {maxUnavailable: "150%"}',
        APPLY,
        "spec.podDisruptionBudget.maxUnavailable",
    ),
    BadSpec(
        "budget-not-a-percent",
        "podDisruptionBudget: {minAvailable: half}",
        APPLY,
        "spec.podDisruptionBudget.minAvailable",
    ),
    BadSpec(
        "budget-min-available-at-the-floor",
        "podDisruptionBudget: {minAvailable: 2}",
        APPLY,
        "spec.podDisruptionBudget.minAvailable",
        "no drain could ever evict a pod",
    ),
    BadSpec(
        "spread-min-domains-when-soft",
        "pod:\n  topologySpreadConstraints:\n  - {minDomains: 2}",
        APPLY,
        "spec.pod.topologySpreadConstraints[0].minDomains",
    ),
    BadSpec(
        "spread-the-same-key-twice",
        "pod:\n  topologySpreadConstraints:\n  - {maxSkew: 1}\n  - {maxSkew: 2}",
        APPLY,
        "spec.pod.topologySpreadConstraints",
        "must not repeat",
    ),
    BadSpec(
        "spread-skew-zero",
        "pod: {topologySpreadConstraints: [{maxSkew: 0}]}",
        APPLY,
        "spec.pod.topologySpreadConstraints[0].maxSkew",
    ),
    BadSpec(
        "spread-bad-topology-key",
        'pod: {topologySpreadConstraints: [{topologyKey: "zone name"}]}',
        APPLY,
        "spec.pod.topologySpreadConstraints[0].topologyKey",
    ),
    # --- stored, then InvalidSpec: the API server refuses a child --------------------------------
    BadSpec(
        "node-port-taken",
        f"service: {{type: NodePort, nodePort: {TAKEN_NODE_PORT}}}",
        INVALID_SPEC,
        "spec.ports[0].nodePort",
        "already allocated",
        needs=f"a Service holding node port {TAKEN_NODE_PORT}",
    ),
)
