{{/*
Names. With the release called "gwwatch" (the documented install) every object is named as in
deploy/base: gwwatch, gwwatch-metrics, gwwatch-settings, gwwatch-ownership.
*/}}
{{- define "gwwatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gwwatch.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The namespace every namespaced object goes to. */}}
{{- define "gwwatch.namespace" -}}
{{- .Values.namespace.name | default .Release.Namespace }}
{{- end }}

{{- define "gwwatch.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The recommended labels, on every object (and the pods). */}}
{{- define "gwwatch.labels" -}}
helm.sh/chart: {{ include "gwwatch.chart" . }}
app.kubernetes.io/name: {{ include "gwwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: gwwatch
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
What the Deployment, Service, PodDisruptionBudget and NetworkPolicy select: the same two labels
as deploy/base (a Deployment's selector is immutable, so it never grows).
*/}}
{{- define "gwwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gwwatch.name" . }}
app.kubernetes.io/component: controller
{{- end }}

{{/* metadata.annotations (indented for metadata), when commonAnnotations (or .extra) are set;
nothing otherwise. */}}
{{- define "gwwatch.annotations" -}}
{{- $all := merge (dict) (.extra | default dict) (.root.Values.commonAnnotations | default dict) }}
{{- with $all }}
{{ printf "annotations:\n%s" (toYaml . | indent 2) | indent 2 }}
{{- end }}
{{- end }}

{{- define "gwwatch.image" -}}
{{- $repo := .Values.image.repository }}
{{- with .Values.image.registry }}{{ $repo = printf "%s/%s" . $repo }}{{ end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* The Lease gwwatch elects its leader with: its default name for the release "gwwatch". */}}
{{- define "gwwatch.leaseName" -}}
{{- include "gwwatch.fullname" . }}
{{- end }}

{{/* The webhook's serving certificate: cert-manager's Secret, or the one given. */}}
{{- define "gwwatch.webhookSecret" -}}
{{- if .Values.admissionWebhook.certManager.enabled }}
{{- printf "%s-webhook-tls" (include "gwwatch.fullname" .) }}
{{- else }}
{{- .Values.admissionWebhook.existingSecret }}
{{- end }}
{{- end }}

{{/* The job the Prometheus Operator gives gwwatch's targets: the metrics Service's name. */}}
{{- define "gwwatch.ruleSelector" -}}
{{- .Values.prometheusRule.selector | default (printf "job=%q" (printf "%s-metrics" (include "gwwatch.fullname" .))) }}
{{- end }}

{{/*
The settings as environment variables: values.settings, plus what the chart's own names imply
(only where they differ from gwwatch's defaults, so the release "gwwatch" renders deploy/base's
settings exactly).
*/}}
{{- define "gwwatch.settings" -}}
{{- $s := deepCopy .Values.settings }}
{{- if ne (include "gwwatch.leaseName" .) "gwwatch" }}
{{- $_ := set $s "GWWATCH_LEASE_NAME" (include "gwwatch.leaseName" .) }}
{{- end }}
{{- if .Values.ownership.enabled }}
{{- $_ := set $s "GWWATCH_OWNERSHIP_CONFIGMAP" (printf "%s-ownership" (include "gwwatch.fullname" .)) }}
{{- end }}
{{- if .Values.admissionWebhook.enabled }}
{{- $_ := set $s "GWWATCH_WEBHOOK_PORT" (toString .Values.admissionWebhook.port) }}
{{- $_ := set $s "GWWATCH_WEBHOOK_MODE" .Values.admissionWebhook.mode }}
{{- $_ := set $s "GWWATCH_WEBHOOK_CERT_FILE" "/etc/gwwatch/webhook/tls.crt" }}
{{- $_ := set $s "GWWATCH_WEBHOOK_KEY_FILE" "/etc/gwwatch/webhook/tls.key" }}
{{- end }}
{{- range $k, $v := $s }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}
