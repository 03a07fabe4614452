{{/* Names, labels and derived values. No randomness, no clock: rendering is reproducible. */}}

{{- define "cti.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cti.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "cti.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cti.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cti.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "cti.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "cti.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "cti.injectionImage" -}}
{{- default (include "cti.image" .) .Values.injection.image -}}
{{- end -}}

{{/* The webhook's Service, ServiceAccount and MutatingWebhookConfiguration share the full name. */}}
{{- define "cti.serviceName" -}}{{ include "cti.fullname" . }}{{- end -}}
{{- define "cti.webhookConfigurationName" -}}{{ include "cti.fullname" . }}{{- end -}}

{{/* The Secret the webhook serves from: kept by the webhook (self), cert-manager, or you. */}}
{{- define "cti.servingSecretName" -}}
{{- if eq .Values.servingCert.mode "secret" -}}
{{- .Values.servingCert.secret.name -}}
{{- else if eq .Values.servingCert.mode "self" -}}
{{- default (printf "%s-serving-cert" (include "cti.fullname" .)) .Values.servingCert.self.secretName -}}
{{- else -}}
{{- printf "%s-serving-cert" (include "cti.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Service DNS names the serving certificate must cover. */}}
{{- define "cti.serviceDnsNames" -}}
{{- $svc := include "cti.serviceName" . -}}
- {{ $svc }}
- {{ $svc }}.{{ .Release.Namespace }}
- {{ $svc }}.{{ .Release.Namespace }}.svc
- {{ $svc }}.{{ .Release.Namespace }}.svc.cluster.local
{{- end -}}

{{/* injection.bootstrapMode, auto resolved: native sidecars are on by default from Kubernetes 1.29. */}}
{{- define "cti.bootstrapMode" -}}
{{- $mode := .Values.injection.bootstrapMode -}}
{{- if eq $mode "auto" -}}
{{- if semverCompare ">=1.29-0" .Capabilities.KubeVersion.Version }}sidecar{{ else }}init{{ end -}}
{{- else -}}
{{- $mode -}}
{{- end -}}
{{- end -}}

{{- define "cti.terminationGracePeriodSeconds" -}}
{{- $drain := int .Values.webhook.drainSeconds -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $drain 15 -}}
{{- else if le (int .Values.terminationGracePeriodSeconds) $drain -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be larger than webhook.drainSeconds (%d): the kubelet would kill the webhook while it drains" (int .Values.terminationGracePeriodSeconds) $drain) -}}
{{- else -}}
{{- int .Values.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/* Pod Security "restricted": for every container the chart runs. 65534 (nobody) is the image's own user. */}}
{{- define "cti.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65534
runAsGroup: 65534
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "cti.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The Secret flags shared by the webhook and bootstrap-tls. */}}
{{- define "cti.secretNameArgs" -}}
- --contour-secret={{ .Values.injection.secretNames.contour }}
- --envoy-secret={{ .Values.injection.secretNames.envoy }}
- --ca-secret={{ .Values.injection.secretNames.ca }}
{{- end -}}

{{/* What bootstrap-tls --role=contour needs on the three Secrets, and nothing more. */}}
{{- define "cti.secretsRules" -}}
# create cannot be limited by name: the authorizer does not know the name before the object exists.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create"]
# an Event on the CA Secret for each step of the certificate lifecycle
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
- apiGroups: [""]
  resources: ["secrets"]
  resourceNames:
    {{- $names := .Values.injection.secretNames }}
    {{- range (.instances | default (list "")) }}
    - {{ $names.contour }}{{ . }}
    - {{ $names.envoy }}{{ . }}
    - {{ $names.ca }}{{ . }}
    {{- end }}
  verbs: ["get", "update"]
{{- if .Values.injection.migrateFromCertgen }}
# contour certgen's Secrets of the same instances: a first set takes them over without an outage,
# adding our CA to their trust keys only (bootstrap-tls --migrate-from=certgen).
- apiGroups: [""]
  resources: ["secrets"]
  resourceNames:
    {{- range (.instances | default (list "")) }}
    - contourcert{{ . }}
    - envoycert{{ . }}
    - cacert{{ . }}
    {{- end }}
  verbs: ["get", "update"]
{{- end }}
{{- end -}}
