{{/* Names, labels and the rendered gateway config, shared by every template. */}}

{{- define "portcullis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "portcullis.fullname" -}}
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

{{- define "portcullis.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "portcullis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portcullis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "portcullis.labels" -}}
helm.sh/chart: {{ include "portcullis.chart" . }}
{{ include "portcullis.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "portcullis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "portcullis.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, or repository@digest when a digest is given. */}}
{{- define "portcullis.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* terminationGracePeriodSeconds: preStop sleep, then the gateway's own grace, then its clean-up. */}}
{{- define "portcullis.terminationGracePeriodSeconds" -}}
{{- add (int .Values.shutdown.preStopSleepSeconds) (int (ceil .Values.shutdown.graceSeconds)) (int .Values.shutdown.cleanupSeconds) }}
{{- end }}

{{/*
The gateway config: .Values.config plus the fields that follow from the Kubernetes settings. Those are refused in
.Values.config, so a value set there never silently loses to the chart (or silently breaks the probes).
*/}}
{{- define "portcullis.config" -}}
{{- $user := deepCopy (.Values.config | default dict) }}
{{- $refused := list }}
{{- $listen := get $user "listen" | default dict }}
{{- range $k := list "host" "port" }}{{ if hasKey $listen $k }}{{ $refused = append $refused (printf "config.listen.%s (set listenHost / containerPort)" $k) }}{{ end }}{{ end }}
{{- if hasKey (get $user "policy" | default dict) "bundle" }}{{ $refused = append $refused "config.policy.bundle (set bundle.*)" }}{{ end }}
{{- $audit := get $user "audit" | default dict }}
{{- if hasKey $audit "file" }}{{ $refused = append $refused "config.audit.file (set auditVolume.*)" }}{{ end }}
{{- if hasKey (get $audit "spool" | default dict) "dir" }}{{ $refused = append $refused "config.audit.spool.dir (set spoolVolume.mountPath)" }}{{ end }}
{{- if hasKey $user "metrics" }}{{ $refused = append $refused "config.metrics (set metrics.*)" }}{{ end }}
{{- if hasKey (get $user "shutdown" | default dict) "graceSeconds" }}{{ $refused = append $refused "config.shutdown.graceSeconds (set shutdown.graceSeconds)" }}{{ end }}
{{- $http := get $user "http" | default dict }}
{{- if and (hasKey $http "allowedHosts") (kindIs "slice" (get $http "allowedHosts")) (empty (get $http "allowedHosts")) }}
{{- fail "config.http.allowedHosts is an empty list: the gateway would refuse every request, probes included. Leave it unset to accept any Host, or list your host names" }}
{{- end }}
{{- if $refused }}{{ fail (printf "these config fields are set by the chart: %s" (join ", " $refused)) }}{{ end }}
{{- /* set, not mergeOverwrite: a merge skips zero values (graceSeconds: 0, defaultMetrics: false). */}}
{{- $_ := set $listen "host" .Values.listenHost }}
{{- $_ = set $listen "port" (int .Values.containerPort) }}
{{- $_ = set $user "listen" $listen }}
{{- $policy := get $user "policy" | default dict }}
{{- $_ = set $policy "bundle" (printf "%s/%s" (trimSuffix "/" .Values.bundle.mountPath) .Values.bundle.fileName) }}
{{- $_ = set $user "policy" $policy }}
{{- if .Values.auditVolume.fileName }}
{{- $_ = set $audit "file" (printf "%s/%s" (trimSuffix "/" .Values.auditVolume.mountPath) .Values.auditVolume.fileName) }}
{{- end }}
{{- $spool := get $audit "spool" | default dict }}
{{- $_ = set $spool "dir" .Values.spoolVolume.mountPath }}
{{- $_ = set $audit "spool" $spool }}
{{- $_ = set $user "audit" $audit }}
{{- $shutdown := get $user "shutdown" | default dict }}
{{- $_ = set $shutdown "graceSeconds" .Values.shutdown.graceSeconds }}
{{- $_ = set $user "shutdown" $shutdown }}
{{- if .Values.metrics.enabled }}
{{- $_ = set $user "metrics" (dict "enabled" true "path" .Values.metrics.path "defaultMetrics" .Values.metrics.defaultMetrics "listen" (dict "host" .Values.listenHost "port" (int .Values.metrics.port))) }}
{{- with .Values.metrics.bearerTokenEnv }}{{ $_ = set $user.metrics "bearerTokenEnv" . }}{{ end }}
{{- end }}
{{- toYaml $user }}
{{- end }}

{{/*
Every environment variable name the config refers to: string fields whose key ends in "Env" (hmacKeyEnv, urlEnv,
secretIdEnv, ...) and the values of decisionLogs.headersEnv. Walks maps and lists; prints one name per line.
*/}}
{{- define "portcullis.envRefs" -}}
{{- if kindIs "map" . }}
{{- range $k, $v := . }}
{{- if and (eq $k "headersEnv") (kindIs "map" $v) }}
{{- range $_, $name := $v }}{{ $name }}{{ "\n" }}{{ end }}
{{- else if and (hasSuffix "Env" $k) (kindIs "string" $v) }}
{{- $v }}{{ "\n" }}
{{- else }}
{{- include "portcullis.envRefs" $v }}
{{- end }}
{{- end }}
{{- else if kindIs "slice" . }}
{{- range . }}{{ include "portcullis.envRefs" . }}{{ end }}
{{- end }}
{{- end }}

{{/* Fails rendering when the config names an environment variable that neither secretEnv nor env provides. */}}
{{- define "portcullis.checkEnvRefs" -}}
{{- $provided := concat (keys (.Values.secretEnv | default dict)) (keys (.Values.env | default dict)) }}
{{- $missing := list }}
{{- /* The final config, so that fields the chart sets (metrics.bearerTokenEnv) are checked too. */}}
{{- $refs := splitList "\n" (include "portcullis.envRefs" (include "portcullis.config" . | fromYaml)) }}
{{- /* The vault section's defaults read the environment too (VAULT_ADDR; VAULT_TOKEN for the token method). */}}
{{- $vault := get (.Values.config | default dict) "vault" | default dict }}
{{- if $vault }}
{{- $vaultAuth := get $vault "auth" | default dict }}
{{- if and (not (get $vault "address")) (not (has "BAO_ADDR" $provided)) }}{{ $refs = append $refs "VAULT_ADDR" }}{{ end }}
{{- if and (eq (get $vaultAuth "method") "token") (not (get $vaultAuth "tokenFile")) (not (get $vaultAuth "tokenEnv")) }}{{ $refs = append $refs "VAULT_TOKEN" }}{{ end }}
{{- end }}
{{- range $name := $refs }}
{{- if and $name (not (has $name $provided)) }}{{ $missing = append $missing $name }}{{ end }}
{{- end }}
{{- if $missing }}
{{- fail (printf "config needs environment variables that neither secretEnv nor env provides: %s" (join ", " (uniq $missing))) }}
{{- end }}
{{- end }}

{{/* Host header for the probes: probes.hostHeader, else the first of config.http.allowedHosts. */}}
{{- define "portcullis.probeHost" -}}
{{- $http := get (.Values.config | default dict) "http" | default dict }}
{{- $allowed := get $http "allowedHosts" | default list }}
{{- .Values.probes.hostHeader | default (first $allowed) | default "" }}
{{- end }}

{{- define "portcullis.probeScheme" -}}
{{- $listen := get (.Values.config | default dict) "listen" | default dict }}
{{- if get $listen "tls" }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{/* More than one pod at once: replicaCount, or the autoscaler's floor. */}}
{{- define "portcullis.multiReplica" -}}
{{- if .Values.autoscaling.enabled }}{{ if gt (int .Values.autoscaling.minReplicas) 1 }}true{{ end }}{{ else if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- end }}

{{/* A probe's httpGet on the gateway's port; takes path, host (Host header, may be empty) and scheme. */}}
{{- define "portcullis.httpGet" -}}
httpGet:
  path: {{ .path }}
  port: http
  scheme: {{ .scheme }}
  {{- if .host }}
  httpHeaders:
    - name: Host
      value: {{ .host | quote }}
  {{- end }}
{{- end }}
