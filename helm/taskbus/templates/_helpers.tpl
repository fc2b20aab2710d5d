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
{{- default (printf "%s-runtime-secrets" (include "taskbus.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "taskbus.configName" -}}
{{- printf "%s-runtime-config" (include "taskbus.fullname" .) }}
{{- end }}

{{/* The environment of every taskbus container. */}}
{{- define "taskbus.envFrom" -}}
- configMapRef:
    name: {{ include "taskbus.configName" . }}
- secretRef:
    name: {{ include "taskbus.secretName" . }}
{{- end }}

{{/*
The hook copies of the ConfigMap and Secret: the pre-install/pre-upgrade migration job
runs before Helm creates the release's own resources, so it reads copies made as hooks of
a lower weight, deleted once every hook succeeded (helm.sh/hook-delete-policy
hook-succeeded). The release's ConfigMap and Secret are ordinary resources that `helm
uninstall` removes.
*/}}
{{- define "taskbus.hookConfigName" -}}
{{- printf "%s-migrate-config" (include "taskbus.fullname" .) }}
{{- end }}

{{- define "taskbus.hookSecretName" -}}
{{- default (printf "%s-migrate-secrets" (include "taskbus.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "taskbus.hookEnvFrom" -}}
- configMapRef:
    name: {{ include "taskbus.hookConfigName" . }}
- secretRef:
    name: {{ include "taskbus.hookSecretName" . }}
{{- end }}

{{/* Rolls pods when configuration changes. */}}
{{- define "taskbus.configChecksums" -}}
checksum/config: {{ toJson .Values.config | sha256sum }}
checksum/secrets: {{ toJson .Values.secrets | sha256sum }}
{{- end }}

{{/*
A Deployment of a Kafka-driven daemon (issue 4: notifier, webhooks, scheduler, reporter,
analytics, activity), probed on its metrics port (taskbus.daemonProbes). Call with
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
        {{- include "taskbus.scrapeAnnotations" (dict "root" $root "component" .component) | nindent 8 }}
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
          {{- include "taskbus.daemonProbes" (dict "root" $root "component" .component) | nindent 10 }}
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
      {{- include "taskbus.scheduling" (dict "root" $root "component" .component "values" $v) | nindent 6 }}
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

{{/*
The daemons' metrics listeners (issue 11): each serves /health, /ready and /metrics on
TASKBUS_<DAEMON>_METRICS_PORT when config sets it, else on TASKBUS_METRICS_PORT (config;
9400 by default) plus its offset below. The Dockerfile binds them on 0.0.0.0
(TASKBUS_METRICS_HOST). The API serves the same paths on its HTTP port.
*/}}
{{- define "taskbus.metricsOffsets" -}}
writer: 1
relay: 2
importer: 3
notifier: 4
webhooks: 5
scheduler: 6
reporter: 7
analytics: 8
activity: 9
{{- end }}

{{/* The metrics port of a daemon; call with (dict "root" $ "component" "writer"). A port of
0 turns the daemon's listener off, but the chart's probes need it: the render fails. */}}
{{- define "taskbus.metricsPort" -}}
{{- $config := .root.Values.config -}}
{{- $ownKey := printf "TASKBUS_%s_METRICS_PORT" (upper .component) -}}
{{- $port := 0 -}}
{{- if hasKey $config $ownKey -}}
{{- $port = int (get $config $ownKey) -}}
{{- else -}}
{{- $offsets := include "taskbus.metricsOffsets" . | fromYaml -}}
{{- if not (hasKey $offsets .component) -}}
{{- fail (printf "no metrics port offset for %s" .component) -}}
{{- end -}}
{{- $base := 9400 -}}
{{- if hasKey $config "TASKBUS_METRICS_PORT" -}}
{{- $base = int (get $config "TASKBUS_METRICS_PORT") -}}
{{- end -}}
{{- if le $base 0 -}}
{{- fail "config.TASKBUS_METRICS_PORT must not be 0 in the chart: every daemon's probes use its listener" -}}
{{- end -}}
{{- $port = add $base (int (get $offsets .component)) -}}
{{- end -}}
{{- if or (le (int $port) 0) (gt (int $port) 65535) -}}
{{- fail (printf "the %s daemon's metrics port must be 1..65535 in the chart (its probes use it): %v" .component $port) -}}
{{- end -}}
{{- $port -}}
{{- end }}

{{/*
The metrics port, liveness (/health: the main loop is alive) and readiness (/ready: its
own dependencies answer) of a daemon's container, at the container's indentation.
Call with (dict "root" $ "component" "writer").
*/}}
{{- define "taskbus.daemonProbes" -}}
{{- $p := .root.Values.daemonProbes -}}
ports:
  - name: metrics
    containerPort: {{ include "taskbus.metricsPort" . }}
    protocol: TCP
readinessProbe:
  httpGet:
    path: /ready
    port: metrics
  periodSeconds: {{ $p.readinessProbe.periodSeconds }}
  timeoutSeconds: {{ $p.readinessProbe.timeoutSeconds }}
  failureThreshold: {{ $p.readinessProbe.failureThreshold }}
livenessProbe:
  httpGet:
    path: /health
    port: metrics
  initialDelaySeconds: {{ $p.livenessProbe.initialDelaySeconds }}
  periodSeconds: {{ $p.livenessProbe.periodSeconds }}
  timeoutSeconds: {{ $p.livenessProbe.timeoutSeconds }}
  failureThreshold: {{ $p.livenessProbe.failureThreshold }}
{{- end }}

{{/* prometheus.io annotations for scrapers that discover pods by annotation. */}}
{{- define "taskbus.scrapeAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ include "taskbus.metricsPort" . | quote }}
prometheus.io/path: /metrics
{{- end }}

{{/*
Where a Deployment's pods run (values "scheduling", issue 13), at the pod spec's
indentation: the section's nodeSelector and tolerations; its affinity when it sets one,
else pod anti-affinity between the Deployment's own replicas by node (preferred, required
or none: the section's podAntiAffinity, else scheduling.podAntiAffinity); its
topologySpreadConstraints when it sets some, else one spread over zones
(scheduling.topologySpread). Call with (dict "root" $ "component" "writer" "values"
.Values.writer).
*/}}
{{- define "taskbus.scheduling" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $s := $root.Values.scheduling -}}
{{- $selector := include "taskbus.selectorLabels" (dict "root" $root "component" .component) -}}
{{- $mode := default $s.podAntiAffinity (get $v "podAntiAffinity") -}}
{{- if not (has $mode (list "preferred" "required" "none")) -}}
{{- fail (printf "podAntiAffinity of %s must be preferred, required or none: %v" .component $mode) -}}
{{- end -}}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $v.affinity }}
affinity:
  {{- toYaml $v.affinity | nindent 2 }}
{{- else if eq $mode "preferred" }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: {{ $s.antiAffinityTopologyKey }}
          labelSelector:
            matchLabels:
              {{- $selector | nindent 14 }}
{{- else if eq $mode "required" }}
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: {{ $s.antiAffinityTopologyKey }}
        labelSelector:
          matchLabels:
            {{- $selector | nindent 12 }}
{{- end }}
{{- if get $v "topologySpreadConstraints" }}
topologySpreadConstraints:
  {{- toYaml (get $v "topologySpreadConstraints") | nindent 2 }}
{{- else if $s.topologySpread.enabled }}
topologySpreadConstraints:
  - maxSkew: {{ $s.topologySpread.maxSkew }}
    topologyKey: {{ $s.topologySpread.topologyKey }}
    whenUnsatisfiable: {{ $s.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- $selector | nindent 8 }}
{{- end }}
{{- end }}

{{/*
The Deployments of the chart, component -> the values section (enabled ones only):
the API and every daemon of taskbus.metricsOffsets. The PodDisruptionBudgets range over it.
*/}}
{{- define "taskbus.components" -}}
{{- $out := dict -}}
{{- $offsets := include "taskbus.metricsOffsets" . | fromYaml -}}
{{- range $component := append (keys $offsets) "api" -}}
{{- $v := get $.Values $component -}}
{{- if dig "enabled" true $v -}}
{{- $_ := set $out $component true -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end }}

{{/*
Seconds the API needs after SIGTERM: it drains requests in flight for up to DRAIN_MS
(25 s) and flushes its Kafka producer for up to PRODUCER_FLUSH_MS (4 s; api/main.c),
plus a second. api.terminationGracePeriodSeconds must cover preStopSleepSeconds and this
(validate.yaml); a test holds it equal to api/main.c.
*/}}
{{- define "taskbus.apiStopSeconds" -}}
30
{{- end }}
