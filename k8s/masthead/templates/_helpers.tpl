{{/* Chart name, truncated to the 63-char DNS label limit. */}}
{{- define "masthead.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "masthead.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "masthead.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "masthead.selectorLabels" -}}
app.kubernetes.io/name: {{ include "masthead.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "masthead.labels" -}}
helm.sh/chart: {{ include "masthead.chart" . }}
{{ include "masthead.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: masthead
{{- end -}}

{{/* Call with (dict "root" $ "role" "api"). */}}
{{- define "masthead.roleSelectorLabels" -}}
{{ include "masthead.selectorLabels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "masthead.roleLabels" -}}
{{ include "masthead.labels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "masthead.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "masthead.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "masthead.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "masthead.secretName" -}}
{{- default (include "masthead.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "masthead.natsCredsEnabled" -}}
{{- if or .Values.secrets.mountNatsCreds (and (not .Values.secrets.existingSecret) .Values.secrets.natsCreds) -}}true{{- end -}}
{{- end -}}

{{/*
The HS256 secret of the chart-created Secret: the configured one; else,
without a JWKS URL, the one a previous install generated (so tokens stay
valid across upgrades), or a new random one. Every api replica reads the
same Secret, so a token is valid on all of them.
*/}}
{{- define "masthead.authHs256Secret" -}}
{{- if .Values.secrets.authHs256Secret -}}
{{- .Values.secrets.authHs256Secret -}}
{{- else if not .Values.config.auth.jwksUrl -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "masthead.fullname" .) -}}
{{- $key := .Values.secrets.keys.authHs256Secret -}}
{{- if and $existing (index ($existing.data | default dict) $key) -}}
{{- index $existing.data $key | b64dec -}}
{{- else -}}
{{- randAlphaNum 48 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Same naming rule Helm charts conventionally use (the nats chart too) for their fullname. */}}
{{- define "masthead.subchartFullname" -}}
{{- if contains .name .root.Release.Name -}}
{{- .root.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .root.Release.Name .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- /* The MongoDBCommunity resource's name (mongodb.enabled). */}}
{{- define "masthead.mongodbName" -}}
{{- include "masthead.subchartFullname" (dict "root" . "name" "mongodb") -}}
{{- end -}}

{{- define "masthead.natsUrl" -}}
{{- if .Values.config.natsUrl -}}
{{- .Values.config.natsUrl -}}
{{- else if .Values.nats.enabled -}}
{{- printf "nats://%s:4222" (include "masthead.subchartFullname" (dict "root" . "name" "nats")) -}}
{{- else -}}
nats://nats:4222
{{- end -}}
{{- end -}}

{{/*
Non-secret environment shared by every role and the setup Job, as a YAML map.
The ConfigMap renders it as data; the hook Job inlines it because hooks run
before the ConfigMap exists.
*/}}
{{- define "masthead.configData" -}}
MASTHEAD_NATS_URL: {{ include "masthead.natsUrl" . | quote }}
MASTHEAD_HTTP_ADDR: "0.0.0.0:8080"
MASTHEAD_DATA_DIR: "/var/lib/masthead"
MASTHEAD_STREAM: {{ .Values.config.stream | quote }}
MASTHEAD_STREAM_REPLICAS: {{ .Values.config.streamReplicas | toString | quote }}
MASTHEAD_MONGODB_DATABASE: {{ .Values.config.mongodbDatabase | quote }}
MASTHEAD_MAIL_FROM: {{ .Values.config.mailFrom | quote }}
MASTHEAD_MAIL_CONTACT: {{ .Values.config.mailContact | quote }}
MASTHEAD_LOG_FORMAT: "json"
MASTHEAD_OPS_ADDR: {{ printf "0.0.0.0:%v" .Values.config.opsPort | quote }}
MASTHEAD_AUTH_ROLES_CLAIM: {{ .Values.config.auth.rolesClaim | quote }}
MASTHEAD_AUTH_OIDC_SCOPES: {{ .Values.config.auth.oidcScopes | quote }}
{{- with .Values.config.auth.jwksUrl }}
MASTHEAD_AUTH_JWKS_URL: {{ . | quote }}
{{- end }}
{{- with .Values.config.auth.issuer }}
MASTHEAD_AUTH_ISSUER: {{ . | quote }}
{{- end }}
{{- with .Values.config.auth.audience }}
MASTHEAD_AUTH_AUDIENCE: {{ . | quote }}
{{- end }}
{{- with .Values.config.auth.oidcClientId }}
MASTHEAD_AUTH_OIDC_CLIENT_ID: {{ . | quote }}
{{- end }}
{{- with .Values.config.auth.publicUrl }}
MASTHEAD_PUBLIC_URL: {{ . | quote }}
{{- end }}
{{- with .Values.config.auth.corsAllowedOrigins }}
MASTHEAD_CORS_ALLOWED_ORIGINS: {{ . | quote }}
{{- end }}
{{- with .Values.config.trustedProxies }}
MASTHEAD_TRUSTED_PROXIES: {{ . | quote }}
{{- end }}
{{- if ne (toString .Values.config.intakeRatePerMinute) "" }}
MASTHEAD_INTAKE_RATE_PER_MINUTE: {{ .Values.config.intakeRatePerMinute | toString | quote }}
{{- end }}
RUST_LOG: {{ .Values.config.logLevel | quote }}
{{- with .Values.config.smtpUrl }}
MASTHEAD_SMTP_URL: {{ . | quote }}
{{- end }}
{{- if ne (toString .Values.config.matchThreshold) "" }}
MASTHEAD_MATCH_THRESHOLD: {{ .Values.config.matchThreshold | toString | quote }}
{{- end }}
{{- with .Values.config.otel.endpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
{{- end }}
{{- range $k, $v := .Values.config.extraEnv }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end -}}

{{/* Env entries that cannot live in the ConfigMap. Call with (dict "root" $ "extraEnv" map). */}}
{{- define "masthead.env" -}}
{{- $root := .root -}}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "k8s.pod.name=$(K8S_POD_NAME),k8s.namespace.name=$(K8S_NAMESPACE),service.version=%s%s" (default $root.Chart.AppVersion $root.Values.image.tag) (ternary (printf ",%s" $root.Values.config.otel.resourceAttributes) "" (ne $root.Values.config.otel.resourceAttributes "")) | quote }}
{{- if $root.Values.mongodb.enabled }}
{{- /* The operator writes <resource>-<auth db>-<user> with the user's URI. */}}
- name: MASTHEAD_MONGODB_URI
  valueFrom:
    secretKeyRef:
      name: {{ printf "%s-admin-masthead" (include "masthead.mongodbName" $root) }}
      key: connectionString.standard
{{- else }}
- name: MASTHEAD_MONGODB_URI
  valueFrom:
    secretKeyRef:
      name: {{ include "masthead.secretName" $root }}
      key: {{ $root.Values.secrets.keys.mongodbUri }}
      optional: true
{{- end }}
- name: MASTHEAD_SMTP_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "masthead.secretName" $root }}
      key: {{ $root.Values.secrets.keys.smtpUsername }}
      optional: true
- name: MASTHEAD_SMTP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "masthead.secretName" $root }}
      key: {{ $root.Values.secrets.keys.smtpPassword }}
      optional: true
- name: MASTHEAD_AUTH_HS256_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "masthead.secretName" $root }}
      key: {{ $root.Values.secrets.keys.authHs256Secret }}
      optional: true
- name: MASTHEAD_AUTH_OIDC_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "masthead.secretName" $root }}
      key: {{ $root.Values.secrets.keys.oidcClientSecret }}
      optional: true
{{- if include "masthead.natsCredsEnabled" $root }}
- name: MASTHEAD_NATS_CREDS
  value: /etc/masthead/nats/nats.creds
{{- end }}
{{- range $k, $v := .extraEnv }}
- name: {{ $k }}
  value: {{ $v | toString | quote }}
{{- end }}
{{- end -}}
