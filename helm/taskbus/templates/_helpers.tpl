{{/*
_helpers.tpl: names, labels, the image reference and the environment every taskbus
container shares (ConfigMap for plain settings, Secret for credentials).
*/}}

{{- define "taskbus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "taskbus.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "taskbus.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "taskbus.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "taskbus.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "taskbus.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels; call with (dict "root" $ "component" "api"). */}}
{{- define "taskbus.selectorLabels" -}}
app.kubernetes.io/name: {{ include "taskbus.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "taskbus.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "taskbus.secretName" -}}
{{- default (printf "%s-secrets" (include "taskbus.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "taskbus.configName" -}}
{{- printf "%s-config" (include "taskbus.fullname" .) }}
{{- end }}

{{/* The environment of every taskbus container. */}}
{{- define "taskbus.envFrom" -}}
- configMapRef:
    name: {{ include "taskbus.configName" . }}
- secretRef:
    name: {{ include "taskbus.secretName" . }}
{{- end }}

{{/* Rolls pods when configuration changes. */}}
{{- define "taskbus.configChecksums" -}}
checksum/config: {{ toJson .Values.config | sha256sum }}
checksum/secrets: {{ toJson .Values.secrets | sha256sum }}
{{- end }}
