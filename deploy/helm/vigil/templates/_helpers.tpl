{{/* The release's name prefix of every object, at most 50 characters (room for a stage). */}}
{{- define "vigil.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object; "component" is the stage (or console, topics). */}}
{{- define "vigil.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "vigil.selectorLabels" . }}
{{- end -}}

{{/* The labels that select one component's pods (Services, PDBs, NetworkPolicies). */}}
{{- define "vigil.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The settings every Vigil container gets: named values, then `env`, then the Secret's keys. */}}
{{- define "vigil.env" -}}
{{- $v := .root.Values -}}
{{- $env := dict
  "VIGIL_NAMESPACE" $v.namespace
  "VIGIL_KAFKA_BOOTSTRAP" $v.kafka.bootstrap
  "VIGIL_REPLICATION_FACTOR" (toString $v.kafka.replicationFactor)
  "VIGIL_PARTITIONS" (toString $v.kafka.partitions)
  "VIGIL_REDIS_URL" $v.redisUrl
  "VIGIL_USER_DB" $v.userDb
  "VIGIL_STATE_DIR" "/var/lib/vigil"
  "VIGIL_METRICS_HOST" "0.0.0.0"
-}}
{{- $env = merge (deepCopy (.extra | default dict)) (deepCopy $v.env) $env -}}
{{- range $name := keys $env | sortAlpha }}
- name: {{ $name }}
  value: {{ get $env $name | toString | quote }}
{{- end }}
{{- range $name := keys $v.secrets.env | sortAlpha }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $v.secrets.name }}
      key: {{ get $v.secrets.env $name }}
{{- end }}
{{- end -}}

{{- define "vigil.image" -}}
image: {{ printf "%s:%s" .Values.image.repository (toString .Values.image.tag) | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
{{- end -}}

{{/* A probe on /healthz of a named port. */}}
{{- define "vigil.probe" -}}
httpGet:
  path: /healthz
  port: {{ .port }}
periodSeconds: {{ .period | default 10 }}
failureThreshold: {{ .failures | default 3 }}
timeoutSeconds: 3
{{- end -}}

{{/* The name of the claim holding evidence and the audit log. */}}
{{- define "vigil.stateClaim" -}}
{{- .Values.state.existingClaim | default (printf "%s-state" (include "vigil.fullname" .)) -}}
{{- end -}}
