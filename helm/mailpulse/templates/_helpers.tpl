{{/* ---------------------------------------------------------------------------------------
Names and labels
--------------------------------------------------------------------------------------- */}}

{{- define "mailpulse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource name prefix; component suffixes ("-aggregator", 11 chars) must still fit in 63. */}}
{{- define "mailpulse.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mailpulse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mailpulse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mailpulse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mailpulse.labels" -}}
helm.sh/chart: {{ include "mailpulse.chart" . }}
{{ include "mailpulse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mailpulse
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of one component. Call with (dict "ctx" $ "component" "edge"). */}}
{{- define "mailpulse.componentLabels" -}}
{{ include "mailpulse.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "mailpulse.componentSelectorLabels" -}}
{{ include "mailpulse.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "mailpulse.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
{{- end }}

{{- define "mailpulse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mailpulse.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Hook Jobs run before the chart's ServiceAccount exists: only an existing one is usable. */}}
{{- define "mailpulse.hookServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}default{{ else }}{{ default "default" .Values.serviceAccount.name }}{{ end }}
{{- end }}

{{/* ---------------------------------------------------------------------------------------
Configuration file and secrets
--------------------------------------------------------------------------------------- */}}

{{- define "mailpulse.configMountPath" -}}/etc/mailpulse{{- end }}
{{- define "mailpulse.configFileName" -}}mailpulse.toml{{- end }}

{{/* The Secret the long-running pods read. */}}
{{- define "mailpulse.secretName" -}}
{{- default (include "mailpulse.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* Hook Jobs run before the release's own Secret and ConfigMap exist, so they read hook copies
     (or the existing Secret, which is there already). */}}
{{- define "mailpulse.hookSecretName" -}}
{{- default (printf "%s-hook" (include "mailpulse.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "mailpulse.hookConfigMapName" -}}
{{- printf "%s-hook" (include "mailpulse.fullname" .) }}
{{- end }}

{{/* Public base URL of tracking links: explicit, else derived from the edge ingress host. */}}
{{- define "mailpulse.trackingBaseUrl" -}}
{{- if .Values.edge.trackingBaseUrl }}
{{- .Values.edge.trackingBaseUrl }}
{{- else if and .Values.edge.ingress.enabled .Values.edge.ingress.host }}
{{- printf "%s://%s" (ternary "https" "http" (not (empty .Values.edge.ingress.tlsSecretName))) .Values.edge.ingress.host }}
{{- end }}
{{- end }}

{{/* The librdkafka property table as one TOML inline table (plain and secret, secret wins). */}}
{{- define "mailpulse.kafkaPropertiesInline" -}}
{{- $all := mustMergeOverwrite (dict) .Values.kafka.properties .Values.kafka.secretProperties }}
{{- $pairs := list }}
{{- range $key, $value := $all }}
{{- $pairs = append $pairs (printf "%s = %s" (toJson $key) (toJson (toString $value))) }}
{{- end }}
{{- printf "{ %s }" (join ", " $pairs) }}
{{- end }}

{{/*
The TOML configuration file. Strings go through toJson: a JSON string is a valid TOML basic
string. Numbers go through int64 because Helm reads values as float64 (1073741824 would render
as 1.073741824e+09). Secrets are not here: they arrive as MAILPULSE_* env from the Secret.
*/}}
{{- define "mailpulse.configToml" -}}
# Rendered by the mailpulse Helm chart from its values. Secrets are not in this file: they come
# from MAILPULSE_KEYS_*, MAILPULSE_CLICKHOUSE_PASSWORD and MAILPULSE_KAFKA_PROPERTIES env.

[kafka]
brokers = {{ .Values.kafka.brokers | toJson }}
events_topic = {{ .Values.kafka.topics.events | toJson }}
consent_topic = {{ .Values.kafka.topics.consent | toJson }}
dlq_topic = {{ .Values.kafka.topics.dlq | toJson }}
salt_topic = {{ .Values.kafka.topics.salt | toJson }}

[kafka.properties]
{{- range $key, $value := .Values.kafka.properties }}
{{ toJson $key }} = {{ toJson (toString $value) }}
{{- end }}

[clickhouse]
url = {{ .Values.clickhouse.url | toJson }}
database = {{ .Values.clickhouse.database | toJson }}
user = {{ .Values.clickhouse.user | toJson }}

[edge]
listen = {{ printf "0.0.0.0:%d" (int64 .Values.edge.containerPort) | toJson }}
tracking_base_url = {{ include "mailpulse.trackingBaseUrl" . | toJson }}
trusted_proxies = {{ toJson (default (list) .Values.edge.trustedProxies) }}
geo_db = {{ printf "%s/%s" .Values.geoip.mountPath .Values.geoip.countryFile | toJson }}
asn_db = {{ printf "%s/%s" .Values.geoip.mountPath .Values.geoip.asnFile | toJson }}
geo_granularity = {{ .Values.geoip.granularity | toJson }}
record_network_prefix = {{ .Values.geoip.recordNetworkPrefix }}
spool_dir = {{ .Values.edge.spool.mountPath | toJson }}
spool_max_bytes = {{ int64 .Values.edge.spool.maxBytes }}
spool_fsync_every = {{ int64 .Values.edge.spool.fsyncEvery }}
queue_max_messages = {{ int64 .Values.edge.queueMaxMessages }}
linger_ms = {{ int64 .Values.edge.lingerMs }}
compression = {{ .Values.edge.compression | toJson }}
shutdown_flush_ms = {{ int64 .Values.edge.shutdown.flushMs }}
max_connections = {{ int64 .Values.edge.maxConnections }}
header_timeout_ms = {{ int64 .Values.edge.headerTimeoutMs }}

[keys]
{{- with .Values.secrets.activeSigningKeyId }}
active = {{ . | toJson }}
{{- end }}
# Never the built-in development keys in a cluster.
allow_dev_key = false

[aggregator]
group_id = {{ .Values.aggregator.groupId | toJson }}
batch_max_rows = {{ int64 .Values.aggregator.batchMaxRows }}
batch_max_ms = {{ int64 .Values.aggregator.batchMaxMs }}
retry_initial_ms = {{ int64 .Values.aggregator.retryInitialMs }}
dedup_window_secs = {{ int64 .Values.aggregator.dedupWindowSecs }}

[api]
listen = {{ printf "0.0.0.0:%d" (int64 .Values.api.containerPort) | toJson }}

[privacy]
default_basis = {{ .Values.privacy.defaultBasis | toJson }}
default_unconsented = {{ .Values.privacy.defaultUnconsented | toJson }}
retention_days = {{ int64 .Values.privacy.retentionDays }}

[log]
level = {{ .Values.log.level | toJson }}
format = {{ .Values.log.format | toJson }}
{{- end }}

{{/* Pod annotations that roll pods when the configuration or the chart's Secret changes. */}}
{{- define "mailpulse.checksumAnnotations" -}}
checksum/config: {{ include "mailpulse.configToml" . | sha256sum }}
{{- if not .Values.secrets.existingSecret }}
checksum/secret: {{ include "mailpulse.secretData" . | sha256sum }}
{{- end }}
{{- end }}

{{/*
Env every mailpulse container gets: the config file, and the keys that config validation
demands in every component (keys.allow_dev_key is false, so the signing and subscriber-hash keys
must be present even where unused). Call with
(dict "ctx" $ "secretName" "..." "clickhouse" true "adminKeys" false).
*/}}
{{- define "mailpulse.env" -}}
{{- $ctx := .ctx }}
{{- $keys := $ctx.Values.secrets.keys }}
{{- $existing := not (empty $ctx.Values.secrets.existingSecret) -}}
- name: MAILPULSE_CONFIG
  value: {{ printf "%s/%s" (include "mailpulse.configMountPath" $ctx) (include "mailpulse.configFileName" $ctx) | quote }}
- name: MAILPULSE_KEYS_SIGNING
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $keys.signingKeys }}
- name: MAILPULSE_KEYS_SUBSCRIBER_HASH
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $keys.subscriberHashKey }}
{{- if and .clickhouse (or $existing $ctx.Values.clickhouse.password) }}
- name: MAILPULSE_CLICKHOUSE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $keys.clickhousePassword }}
      optional: {{ $existing }}
{{- end }}
{{- if and .adminKeys (or $existing $ctx.Values.secrets.apiAdminKeys) }}
- name: MAILPULSE_API_ADMIN_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $keys.apiAdminKeys }}
      optional: {{ $existing }}
{{- end }}
{{- if or $existing $ctx.Values.kafka.secretProperties }}
- name: MAILPULSE_KAFKA_PROPERTIES
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $keys.kafkaProperties }}
      optional: {{ $existing }}
{{- end }}
{{- end }}

{{/* HTTP probe on a named port. Call with (dict "path" "/healthz" "port" "http" "timing" $t). */}}
{{- define "mailpulse.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: {{ .port }}
{{- with .timing }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "mailpulse.configVolume" -}}
- name: config
  configMap:
    name: {{ .name }}
{{- end }}

{{- define "mailpulse.commonVolumeMounts" -}}
- name: config
  mountPath: {{ include "mailpulse.configMountPath" . }}
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* Pod-level fields shared by the long-running components. Call with (dict "ctx" $ "role" .Values.edge). */}}
{{- define "mailpulse.podCommon" -}}
{{- $ctx := .ctx -}}
serviceAccountName: {{ include "mailpulse.serviceAccountName" $ctx }}
# mailpulse reads no Kubernetes API.
automountServiceAccountToken: false
# Service links would inject MAILPULSE_EDGE_PORT, MAILPULSE_API_SERVICE_HOST, ... for the
# release's own Services, which the config loader takes as unknown MAILPULSE_<SECTION>_<KEY>
# overrides and refuses to start.
enableServiceLinks: false
{{- with $ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $ctx.Values.podSecurityContext | nindent 2 }}
{{- with .role.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .role.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .role.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .role.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .role.topologySpreadConstraints }}
topologySpreadConstraints:
{{- range .role.topologySpreadConstraints }}
{{- $defaultSelector := dict "labelSelector" (dict "matchLabels" (include "mailpulse.componentSelectorLabels" (dict "ctx" $ctx "component" $.component) | fromYaml)) }}
  - {{ toYaml (mustMergeOverwrite $defaultSelector .) | indent 4 | trim }}
{{- end }}
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------------------------------
Cross-field checks that values.schema.json cannot express. Included by configmap.yaml, so any
render fails with the message.
--------------------------------------------------------------------------------------- */}}
{{- define "mailpulse.validate" -}}
{{- $v := .Values }}
{{- if not $v.secrets.existingSecret }}
  {{- if not $v.secrets.signingKeys }}
    {{- fail "secrets.signingKeys is required (id:64-hex-digits, e.g. \"k1:$(openssl rand -hex 32)\") unless secrets.existingSecret names a Secret holding it" }}
  {{- end }}
  {{- if not $v.secrets.subscriberHashKey }}
    {{- fail "secrets.subscriberHashKey is required (64 hex digits: openssl rand -hex 32) unless secrets.existingSecret names a Secret holding it" }}
  {{- end }}
  {{- if contains "6d61696c70756c73652d646576656c6f706d656e742d6b65792d303030303031" $v.secrets.signingKeys }}
    {{- fail "secrets.signingKeys contains the public development key: generate a real one" }}
  {{- end }}
  {{- if eq $v.secrets.subscriberHashKey "6d61696c70756c73652d7375627363726962657220686173682064657620303031" }}
    {{- fail "secrets.subscriberHashKey is the public development key: generate a real one" }}
  {{- end }}
{{- end }}
{{- if $v.edge.enabled }}
  {{- if not (include "mailpulse.trackingBaseUrl" .) }}
    {{- fail "edge.trackingBaseUrl is required (the public base URL of tracking links, e.g. https://track.example.com), or enable edge.ingress with a host" }}
  {{- end }}
  {{- if and (eq $v.geoip.source "volume") (empty $v.geoip.volume) }}
    {{- fail "geoip.volume is required when geoip.source is volume (e.g. {persistentVolumeClaim: {claimName: geoip}}), or set geoip.source=initContainer with geoip.initContainer.countryUrl" }}
  {{- end }}
  {{- if and (eq $v.geoip.source "initContainer") (or (empty $v.geoip.initContainer.countryUrl) (empty $v.geoip.initContainer.asnUrl)) }}
    {{- fail "geoip.initContainer.countryUrl and geoip.initContainer.asnUrl are required when geoip.source is initContainer" }}
  {{- end }}
  {{- $flushSeconds := div (add (int64 $v.edge.shutdown.flushMs) 999) 1000 }}
  {{- $needed := add (int64 $v.edge.shutdown.preStopSleepSeconds) (int64 $v.edge.shutdown.drainSeconds) $flushSeconds }}
  {{- if le (int64 $v.edge.terminationGracePeriodSeconds) $needed }}
    {{- fail (printf "edge.terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds + drainSeconds + flushMs/1000 (%d), or pods are killed before the spool is written" (int64 $v.edge.terminationGracePeriodSeconds) $needed) }}
  {{- end }}
  {{- if and $v.edge.autoscaling.enabled (gt (int64 $v.edge.autoscaling.minReplicas) (int64 $v.edge.autoscaling.maxReplicas)) }}
    {{- fail (printf "edge.autoscaling.minReplicas (%d) must not exceed edge.autoscaling.maxReplicas (%d)" (int64 $v.edge.autoscaling.minReplicas) (int64 $v.edge.autoscaling.maxReplicas)) }}
  {{- end }}
  {{- if and $v.edge.ingress.enabled (not $v.edge.ingress.host) }}
    {{- fail "edge.ingress.host is required when edge.ingress.enabled is true (the custom tracking host)" }}
  {{- end }}
{{- end }}
{{- if and $v.aggregator.enabled (gt (int64 $v.aggregator.replicaCount) (int64 $v.kafka.eventsPartitions)) }}
  {{- fail (printf "aggregator.replicaCount (%d) exceeds kafka.eventsPartitions (%d): each partition feeds one consumer, the extra replicas would idle" (int64 $v.aggregator.replicaCount) (int64 $v.kafka.eventsPartitions)) }}
{{- end }}
{{- if and $v.api.enabled $v.api.ingress.enabled (not $v.api.ingress.host) }}
  {{- fail "api.ingress.host is required when api.ingress.enabled is true" }}
{{- end }}
{{- end }}

{{/* Data of the chart-managed Secret (and its hook copy). */}}
{{- define "mailpulse.secretData" -}}
{{- $keys := .Values.secrets.keys -}}
{{ $keys.signingKeys }}: {{ .Values.secrets.signingKeys | b64enc | quote }}
{{ $keys.subscriberHashKey }}: {{ .Values.secrets.subscriberHashKey | b64enc | quote }}
{{- with .Values.clickhouse.password }}
{{ $keys.clickhousePassword }}: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secrets.apiAdminKeys }}
{{ $keys.apiAdminKeys }}: {{ . | b64enc | quote }}
{{- end }}
{{- if .Values.kafka.secretProperties }}
{{ $keys.kafkaProperties }}: {{ include "mailpulse.kafkaPropertiesInline" . | b64enc | quote }}
{{- end }}
{{- end }}

{{/* An Ingress for one component's Service. Call with (dict "ctx" $ "component" "edge" "ingress" $values). */}}
{{- define "mailpulse.ingress" -}}
{{- $ctx := .ctx }}
{{- $ing := .ingress }}
{{- $service := printf "%s-%s" (include "mailpulse.fullname" $ctx) .component -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ $service }}
  labels:
    {{- include "mailpulse.componentLabels" (dict "ctx" $ctx "component" .component) | nindent 4 }}
  {{- with $ing.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with $ing.className }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- with $ing.tlsSecretName }}
  tls:
    - hosts:
        - {{ $ing.host | quote }}
      secretName: {{ . }}
  {{- end }}
  rules:
    - host: {{ $ing.host | quote }}
      http:
        paths:
          {{- range $ing.paths }}
          - path: {{ .path }}
            pathType: {{ .pathType }}
            backend:
              service:
                name: {{ $service }}
                port:
                  name: http
          {{- end }}
{{- end }}
