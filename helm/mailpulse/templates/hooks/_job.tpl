{{/*
A pre-install,pre-upgrade hook Job running one mailpulse subcommand. It reads the hook copies of
the ConfigMap and Secret (weight -10), or the existing Secret. Call with
(dict "ctx" $ "name" "migrate" "args" (list "migrate") "weight" "0" "job" $values "clickhouse" true).
*/}}
{{- define "mailpulse.hookJob" -}}
{{- $ctx := .ctx }}
{{- $job := .job -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "mailpulse.fullname" $ctx }}-{{ .name }}
  labels:
    {{- include "mailpulse.componentLabels" (dict "ctx" $ctx "component" .name) | nindent 4 }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: {{ .weight | quote }}
    # A failed Job stays for `kubectl logs` until the next install/upgrade replaces it.
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ int64 $job.backoffLimit }}
  activeDeadlineSeconds: {{ int64 $job.activeDeadlineSeconds }}
  template:
    metadata:
      labels:
        {{- include "mailpulse.componentLabels" (dict "ctx" $ctx "component" .name) | nindent 8 }}
      {{- with $job.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      restartPolicy: Never
      serviceAccountName: {{ include "mailpulse.hookServiceAccountName" $ctx }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- with $ctx.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $ctx.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ .name }}
          image: {{ include "mailpulse.image" $ctx | quote }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          args:
            {{- toYaml .args | nindent 12 }}
          env:
            {{- include "mailpulse.env" (dict "ctx" $ctx "secretName" (include "mailpulse.hookSecretName" $ctx) "clickhouse" .clickhouse "adminKeys" false) | nindent 12 }}
            {{- with $job.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          resources:
            {{- toYaml $job.resources | nindent 12 }}
          securityContext:
            {{- toYaml $ctx.Values.securityContext | nindent 12 }}
          volumeMounts:
            {{- include "mailpulse.commonVolumeMounts" $ctx | nindent 12 }}
      volumes:
        {{- include "mailpulse.configVolume" (dict "name" (include "mailpulse.hookConfigMapName" $ctx)) | nindent 8 }}
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
{{- end }}
