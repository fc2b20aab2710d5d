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

{{/*
A Deployment of a Kafka-driven daemon without an HTTP port (issue 4: notifier, webhooks,
scheduler, reporter, analytics, activity). Call with
(dict "root" $ "component" "notifier" "values" .Values.notifier "reports" false).
"reports" mounts the shared reports volume at TASKBUS_REPORTS_DIR (the reporter writes
there; the API reads). SIGTERM finishes the message or batch in hand.
*/}}
{{- define "taskbus.workerDeployment" -}}
{{- $root := .root -}}
{{- $v := .values -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "taskbus.fullname" $root }}-{{ .component }}
  labels:
    {{- include "taskbus.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  replicas: {{ $v.replicaCount }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "taskbus.selectorLabels" (dict "root" $root "component" .component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "taskbus.selectorLabels" (dict "root" $root "component" .component) | nindent 8 }}
      annotations:
        {{- include "taskbus.configChecksums" $root | nindent 8 }}
    spec:
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ .component }}
          image: {{ include "taskbus.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: [{{ .binary | quote }}]
          envFrom:
            {{- include "taskbus.envFrom" $root | nindent 12 }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          {{- if .reports }}
          volumeMounts:
            - name: reports
              mountPath: {{ $root.Values.config.TASKBUS_REPORTS_DIR }}
      volumes:
        {{- include "taskbus.reportsVolume" $root | nindent 8 }}
          {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}

{{/* The reports volume: the chart's PVC, a claim you name, or (not shared) an emptyDir. */}}
{{- define "taskbus.reportsVolume" -}}
- name: reports
  {{- if .Values.reports.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-reports" (include "taskbus.fullname" .)) .Values.reports.persistence.existingClaim }}
  {{- else }}
  emptyDir: {}
  {{- end }}
{{- end }}
