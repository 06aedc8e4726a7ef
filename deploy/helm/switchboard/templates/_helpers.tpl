{{/* Names and labels shared by every object of a release. */}}

{{- define "switchboard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchboard.fullname" -}}
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

{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The server's pods only: the Service, PDB and spread must not pick the migration job's pod. */}}
{{- define "switchboard.serverSelectorLabels" -}}
{{ include "switchboard.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "switchboard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "switchboard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: switchboard
{{- end }}

{{- define "switchboard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchboard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "switchboard.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The environment of the server and the migration job: fixed server settings, then `config`
(non-secret), then secrets by reference only. Names that look like secrets are refused in
`config` so a token never lands in a manifest or in `helm get values`.
*/}}
{{- define "switchboard.env" -}}
- name: SWITCHBOARD_HOST
  value: "0.0.0.0"
- name: PORT
  value: "3978"
- name: SWITCHBOARD_DATA_DIR
  value: /data
{{- range $name, $value := .Values.config }}
{{- if regexMatch "(TOKEN|SECRET|PASSWORD|API_KEY)$|^(DATABASE_URL|REDIS_URL)$" $name }}
{{- fail (printf "config.%s looks like a secret: put it in the Secret named by secrets.existingSecret (or secrets.env) instead" $name) }}
{{- end }}
{{- if has $name (list "SWITCHBOARD_HOST" "PORT" "SWITCHBOARD_DATA_DIR") }}
{{- fail (printf "config.%s is set by the chart (the probes and volumes depend on it)" $name) }}
{{- end }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- $picked := list }}
{{- range .Values.secrets.env }}
{{- $picked = append $picked .name }}
{{- end }}
{{- range .Values.secrets.requiredKeys }}
{{- if not (has . $picked) }}
{{- if not $.Values.secrets.existingSecret }}
{{- fail (printf "%s must come from a Secret: set secrets.existingSecret or add it to secrets.env" .) }}
{{- end }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.secrets.existingSecret }}
      key: {{ . }}
{{- end }}
{{- end }}
{{- range .Values.secrets.env }}
- name: {{ required "secrets.env entries need a name" .name }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "secrets.env %s needs a secretName" .name) .secretName }}
      key: {{ required (printf "secrets.env %s needs a key" .name) .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}

{{- define "switchboard.envFrom" -}}
{{- with .Values.secrets.existingSecret -}}
envFrom:
  - secretRef:
      name: {{ . }}
{{- end }}
{{- end }}

{{- define "switchboard.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "switchboard.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end }}
