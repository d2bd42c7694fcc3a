{{/*
The edge pod template, shared by the Deployment (spool on an emptyDir) and the StatefulSet
(spool on a claim from volumeClaimTemplates).
*/}}
{{- define "mailpulse.edge.podTemplate" -}}
{{- $edge := .Values.edge }}
{{- $geoip := .Values.geoip -}}
metadata:
  labels:
    {{- include "mailpulse.componentLabels" (dict "ctx" . "component" "edge") | nindent 4 }}
    {{- with $edge.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    {{- include "mailpulse.checksumAnnotations" . | nindent 4 }}
    {{- with $edge.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- include "mailpulse.podCommon" (dict "ctx" . "role" $edge "component" "edge") | nindent 2 }}
  # preStop sleep + drain after SIGTERM + Kafka flush/spool, checked by the chart.
  terminationGracePeriodSeconds: {{ int64 $edge.terminationGracePeriodSeconds }}
  {{- if eq $geoip.source "initContainer" }}
  initContainers:
    - name: geoip-download
      image: "{{ $geoip.initContainer.image.repository }}:{{ $geoip.initContainer.image.tag }}"
      imagePullPolicy: {{ $geoip.initContainer.image.pullPolicy }}
      command: ["/bin/sh", "-c"]
      args:
        - |
          set -eu
          # Downloads one database into the shared emptyDir, checks its digest, unpacks it.
          # Messages name the file, never the URL: it may carry a licence key.
          fetch() {
            url="$1"; digest="$2"; target="$3"
            work="/geoip/.download"
            rm -rf "$work" && mkdir -p "$work"
            curl --fail --silent --show-error --location --retry 5 --retry-connrefused \
              --connect-timeout 10 --max-time 600 --output "$work/download" "$url" \
              || { echo "geoip: download of $target failed" >&2; exit 1; }
            if [ -n "$digest" ]; then
              echo "$digest  $work/download" | sha256sum -c - >/dev/null \
                || { echo "geoip: $target does not match its sha256" >&2; exit 1; }
            fi
            case "$GEOIP_FORMAT" in
              mmdb) mv "$work/download" "/geoip/$target" ;;
              gzip) gunzip -c "$work/download" > "/geoip/$target" ;;
              tar.gz)
                mkdir "$work/unpacked"
                tar -xzf "$work/download" -C "$work/unpacked"
                found="$(find "$work/unpacked" -name '*.mmdb' | head -n 1)"
                [ -n "$found" ] || { echo "geoip: no .mmdb inside the $target archive" >&2; exit 1; }
                mv "$found" "/geoip/$target" ;;
            esac
            rm -rf "$work"
            echo "geoip: $target ready ($(wc -c < "/geoip/$target") bytes)"
          }
          fetch "$GEOIP_COUNTRY_URL" "$GEOIP_COUNTRY_SHA256" "$GEOIP_COUNTRY_FILE"
          fetch "$GEOIP_ASN_URL" "$GEOIP_ASN_SHA256" "$GEOIP_ASN_FILE"
      env:
        {{- with $geoip.initContainer.extraEnv }}
        # First, so the URLs below can reference them as $(VAR).
        {{- toYaml . | nindent 8 }}
        {{- end }}
        - name: GEOIP_FORMAT
          value: {{ $geoip.initContainer.format | quote }}
        - name: GEOIP_COUNTRY_URL
          value: {{ $geoip.initContainer.countryUrl | quote }}
        - name: GEOIP_COUNTRY_SHA256
          value: {{ $geoip.initContainer.countrySha256 | quote }}
        - name: GEOIP_COUNTRY_FILE
          value: {{ $geoip.countryFile | quote }}
        - name: GEOIP_ASN_URL
          value: {{ $geoip.initContainer.asnUrl | quote }}
        - name: GEOIP_ASN_SHA256
          value: {{ $geoip.initContainer.asnSha256 | quote }}
        - name: GEOIP_ASN_FILE
          value: {{ $geoip.asnFile | quote }}
      resources:
        {{- toYaml $geoip.initContainer.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: geoip
          mountPath: /geoip
        - name: tmp
          mountPath: /tmp
  {{- end }}
  containers:
    - name: edge
      image: {{ include "mailpulse.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["edge"]
      ports:
        - name: http
          containerPort: {{ int64 $edge.containerPort }}
          protocol: TCP
      env:
        {{- include "mailpulse.env" (dict "ctx" . "secretName" (include "mailpulse.secretName" .) "clickhouse" false "adminKeys" false) | nindent 8 }}
        {{- with $edge.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      startupProbe:
        {{- include "mailpulse.httpProbe" (dict "path" "/healthz" "port" "http" "timing" $edge.probes.startup) | nindent 8 }}
      livenessProbe:
        {{- include "mailpulse.httpProbe" (dict "path" "/healthz" "port" "http" "timing" $edge.probes.liveness) | nindent 8 }}
      readinessProbe:
        {{- include "mailpulse.httpProbe" (dict "path" "/readyz" "port" "http" "timing" $edge.probes.readiness) | nindent 8 }}
      lifecycle:
        preStop:
          # Keep serving while endpoints and load balancers drop this pod; SIGTERM follows.
          exec:
            command: ["sleep", "{{ int64 $edge.shutdown.preStopSleepSeconds }}"]
      resources:
        {{- toYaml $edge.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        {{- include "mailpulse.commonVolumeMounts" . | nindent 8 }}
        - name: spool
          mountPath: {{ $edge.spool.mountPath }}
        - name: geoip
          mountPath: {{ $geoip.mountPath }}
          readOnly: true
        {{- with $edge.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    {{- include "mailpulse.configVolume" (dict "name" (include "mailpulse.fullname" .)) | nindent 4 }}
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if not $edge.spool.persistence.enabled }}
    - name: spool
      emptyDir:
        {{- with $edge.spool.emptyDir.medium }}
        medium: {{ . }}
        {{- end }}
        sizeLimit: {{ $edge.spool.emptyDir.sizeLimit }}
    {{- end }}
    {{- if eq $geoip.source "initContainer" }}
    - name: geoip
      emptyDir:
        sizeLimit: {{ $geoip.initContainer.sizeLimit }}
    {{- else }}
    - name: geoip
      {{- toYaml $geoip.volume | nindent 6 }}
    {{- end }}
    {{- with $edge.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
