{{/* The chart's name, or nameOverride. */}}
{{- define "llmservice-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* What every object is called: fullnameOverride, else the release's name when it
already says the chart's, else "<release>-<chart>". */}}
{{- define "llmservice-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "llmservice-operator.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The Deployment's selector: deploy/'s label alone (a selector is immutable, so the
two installs keep one). */}}
{{- define "llmservice-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llmservice-operator.name" . }}
{{- end -}}

{{/* The labels of every object: deploy/'s, and Helm's own. */}}
{{- define "llmservice-operator.labels" -}}
{{ include "llmservice-operator.selectorLabels" . }}
app.kubernetes.io/part-of: llmservice-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The namespaces to watch, comma-separated; empty means every namespace. */}}
{{- define "llmservice-operator.watched" -}}
{{- if .Values.watchNamespaces -}}
{{- join "," (uniq .Values.watchNamespaces) -}}
{{- else if eq .Values.rbac.scope "namespace" -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* What the operator does in a namespace, and nothing more (the rules of
deploy/rbac/cluster/clusterrole.yaml and deploy/namespaced/role.yaml). */}}
{{- define "llmservice-operator.namespacedRules" -}}
# The LLMServices are watched; only their status is written.
- apiGroups: ["llmservice.dev"]
  resources: ["llmservices"]
  verbs: ["list", "watch"]
- apiGroups: ["llmservice.dev"]
  resources: ["llmservices/status"]
  verbs: ["patch"]
# The children, written with server-side apply and watched for drift.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["services", "persistentvolumeclaims"]
  verbs: ["list", "watch", "create", "patch"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["list", "watch", "create", "patch", "delete"]
# The PodDisruptionBudget, deleted when the service can no longer run 2 pods.
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["list", "watch", "create", "patch", "delete"]
# What shows a service to the cluster (spec.networkPolicy, spec.route, spec.monitoring),
# deleted when its option is turned off; a grant for a kind not served is harmless.
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies", "ingresses"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: ["monitoring.coreos.com"]
  resources: ["podmonitors"]
  verbs: ["list", "watch", "create", "patch", "delete"]
# Pods are only watched, to explain why a service is degraded.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/* A setting as an environment variable, only when set: null keeps the operator's
default. Numbers are written in full ("600", "0.3"), never in exponent form. */}}
{{- define "llmservice-operator.setting" -}}
{{- $value := index .settings .key -}}
{{- if not (kindIs "invalid" $value) -}}
- name: {{ .name }}
  value: {{ if kindIs "string" $value }}{{ $value | quote }}{{ else if eq ($value | float64) ($value | int64 | float64) }}{{ $value | int64 | toString | quote }}{{ else }}{{ $value | toString | quote }}{{ end }}
{{- end -}}
{{- end -}}
