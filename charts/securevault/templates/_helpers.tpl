{{/*
Shared building blocks for every component template. Component templates pass a dict:
  (dict "context" $ "component" "app")  — "component" is the chart component name
  (app, auth, audit, email-worker, ai-worker); it names resources and images.
*/}}

{{/*
Chart name, overridable.
  {{ include "securevault.name" . }}  → securevault
*/}}
{{- define "securevault.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Resource name prefix: the release name, unless it already contains the chart name.
  {{ include "securevault.fullname" . }}  → securevault
*/}}
{{- define "securevault.fullname" -}}
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

{{/*
Name of one component's resources.
  {{ include "securevault.componentName" (dict "context" $ "component" "app") }}  → securevault-app
*/}}
{{- define "securevault.componentName" -}}
{{- printf "%s-%s" (include "securevault.fullname" .context) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
helm.sh/chart label value.
  {{ include "securevault.chart" . }}  → securevault-0.1.0
*/}}
{{- define "securevault.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: name, instance, component — nothing else, because a Deployment's selector is
immutable and custom labels may change.
  selector:
    matchLabels:
      {{- include "securevault.selectorLabels" (dict "context" $ "component" "app") | nindent 6 }}
*/}}
{{- define "securevault.selectorLabels" -}}
app.kubernetes.io/name: {{ include "securevault.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
All labels for resources and pod templates: selector labels, chart metadata, then commonLabels.
  labels:
    {{- include "securevault.labels" (dict "context" $ "component" "app") | nindent 4 }}
*/}}
{{- define "securevault.labels" -}}
helm.sh/chart: {{ include "securevault.chart" .context }}
{{ include "securevault.selectorLabels" . }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
app.kubernetes.io/part-of: {{ include "securevault.name" .context }}
{{- with .context.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Values key of a component: "email-worker" → "emailWorker".
  {{ $values := index .Values (include "securevault.valuesKey" "email-worker") }}
*/}}
{{- define "securevault.valuesKey" -}}
{{- index (dict "app" "app" "auth" "auth" "audit" "audit" "email-worker" "emailWorker" "ai-worker" "aiWorker") . | required (printf "unknown component %q" .) }}
{{- end }}

{{/*
Image of a component: the component's own override (skaffold sets it), else
<image.repository>/<component>:<image.tag | appVersion>.
  image: {{ include "securevault.image" (dict "context" $ "component" "app") }}
*/}}
{{- define "securevault.image" -}}
{{- $v := index .context.Values (include "securevault.valuesKey" .component) }}
{{- $repo := $v.image.repository | default (printf "%s/%s" .context.Values.image.repository .component) }}
{{- $tag := $v.image.tag | default .context.Values.image.tag | default .context.Chart.AppVersion }}
{{- printf "%s:%s" $repo $tag | quote }}
{{- end }}

{{/*
Name of the Secret holding every secret file.
  secretName: {{ include "securevault.secretName" . }}
*/}}
{{- define "securevault.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "securevault.fullname" .)) }}
{{- end }}

{{/*
Directory secret files are mounted at; *_FILE variables point into it.
  value: {{ include "securevault.secretDir" . }}/session-secret
*/}}
{{- define "securevault.secretDir" -}}
/var/run/secrets/securevault
{{- end }}

{{/*
Pod-level security context for Pod Security "restricted". 65532 is distroless' "nonroot" user.
  securityContext:
    {{- include "securevault.podSecurityContext" . | nindent 8 }}
*/}}
{{- define "securevault.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Container-level security context for Pod Security "restricted", read-only root filesystem.
  securityContext:
    {{- include "securevault.containerSecurityContext" . | nindent 12 }}
*/}}
{{- define "securevault.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Environment every service reads. "service" is the service's own name (gateway, auth, ...), used
as OTEL_SERVICE_NAME so traces match the metric catalog and `make dev`; the component label
("app" for the gateway) names Kubernetes objects instead.
  env:
    {{- include "securevault.env.common" (dict "context" $ "component" "app" "service" "gateway") | nindent 12 }}
*/}}
{{- define "securevault.env.common" -}}
{{- $v := .context.Values -}}
- name: NODE_ENV
  value: production
- name: LOG_LEVEL
  value: {{ $v.logLevel | quote }}
- name: MANAGEMENT_PORT
  value: "9464"
- name: SHUTDOWN_GRACE_MS
  value: {{ $v.shutdown.graceMs | quote }}
- name: SHUTDOWN_DRAIN_MS
  value: {{ $v.shutdown.drainMs | quote }}
{{- with (index $v (include "securevault.valuesKey" .component)).nodeOptions }}
- name: NODE_OPTIONS
  value: {{ . | quote }}
{{- end }}
{{- if and $v.redis.urlFromSecret (not $v.redis.bundled.enabled) }}
- name: REDIS_URL_FILE
  value: {{ include "securevault.secretDir" .context }}/redis-url
{{- else }}
- name: REDIS_URL
  value: {{ include "securevault.redisUrl" .context | quote }}
{{- end }}
- name: QUEUE_PREFIX
  value: {{ $v.queuePrefix | quote }}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: K8S_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: OTEL_SERVICE_NAME
  value: {{ .service | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "service.namespace=%s,service.version=%s,k8s.namespace.name=$(K8S_NAMESPACE),k8s.pod.name=$(K8S_POD_NAME),k8s.node.name=$(K8S_NODE_NAME),k8s.deployment.name=%s" (include "securevault.fullname" .context) .context.Chart.AppVersion (include "securevault.componentName" .) | quote }}
{{- if $v.tracing.enabled }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ required "tracing.otlpEndpoint is required when tracing.enabled" $v.tracing.otlpEndpoint | quote }}
- name: OTEL_TRACES_SAMPLER
  value: parentbased_traceidratio
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $v.tracing.samplerRatio | default 1 | toString | quote }}
{{- with $v.tracing.instrumentations }}
- name: OTEL_NODE_ENABLED_INSTRUMENTATIONS
  value: {{ join "," . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Container ports: the management port always, plus "http" when the component serves one.
  ports:
    {{- include "securevault.ports" (dict "http" 8080) | nindent 12 }}
*/}}
{{- define "securevault.ports" -}}
{{- if .http -}}
- name: http
  containerPort: {{ .http }}
  protocol: TCP
{{ end -}}
- name: management
  containerPort: 9464
  protocol: TCP
{{- end }}

{{/*
Startup, readiness and liveness probes on the management port (never the public port, so a
busy API cannot starve them).
  {{- include "securevault.probes" . | nindent 10 }}
*/}}
{{- define "securevault.probes" -}}
{{- $p := .Values.probes -}}
startupProbe:
  httpGet:
    path: /healthz
    port: management
  periodSeconds: {{ $p.startup.periodSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
  timeoutSeconds: {{ $p.startup.timeoutSeconds }}
readinessProbe:
  httpGet:
    path: /readyz
    port: management
  periodSeconds: {{ $p.readiness.periodSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
livenessProbe:
  httpGet:
    path: /healthz
    port: management
  periodSeconds: {{ $p.liveness.periodSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
{{- end }}

{{/*
Volume mounts every container gets: a writable /tmp (the root filesystem is read-only) and,
when the component reads secret files, the secret directory.
  volumeMounts:
    {{- include "securevault.volumeMounts" (dict "secretKeys" $keys) | nindent 12 }}
*/}}
{{- define "securevault.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .secretKeys }}
- name: secrets
  mountPath: /var/run/secrets/securevault
  readOnly: true
{{- end }}
{{- end }}

{{/*
Volumes matching securevault.volumeMounts. Only the keys this component needs are projected
(least privilege: the gateway never sees database URLs); a missing key keeps the pod from
starting, which is the failure we want.
  volumes:
    {{- include "securevault.volumes" (dict "context" $ "secretKeys" $keys) | nindent 8 }}
*/}}
{{- define "securevault.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .secretKeys }}
- name: secrets
  secret:
    secretName: {{ include "securevault.secretName" .context }}
    defaultMode: 0440
    items:
      {{- range (.secretKeys | uniq) }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
{{- end }}
{{- end }}

{{/*
Secret keys a component reads: its own plus redis-url when Redis credentials come from the Secret.
  {{- $keys := include "securevault.secretKeys" (dict "context" $ "keys" (list "session-secret")) | splitList "," | compact }}
*/}}
{{- define "securevault.secretKeys" -}}
{{- $keys := .keys }}
{{- if and .context.Values.redis.urlFromSecret (not .context.Values.redis.bundled.enabled) }}
{{- $keys = append $keys "redis-url" }}
{{- end }}
{{- join "," ($keys | uniq) }}
{{- end }}

{{/*
Pod-spec fields shared by every Deployment: security, grace period, no API token, pull secrets,
scheduling.
  spec:
    {{- include "securevault.podSpecCommon" (dict "context" $ "component" "app") | nindent 6 }}
*/}}
{{- define "securevault.podSpecCommon" -}}
{{- $v := index .context.Values (include "securevault.valuesKey" .component) }}
{{- $root := .context.Values }}
{{- if le (mul $root.terminationGracePeriodSeconds 1000 | int64) ($root.shutdown.graceMs | int64) }}
{{- fail "terminationGracePeriodSeconds * 1000 must be greater than shutdown.graceMs, or pods are killed mid-shutdown" }}
{{- end -}}
# Services never call the Kubernetes API.
automountServiceAccountToken: false
enableServiceLinks: false
terminationGracePeriodSeconds: {{ $root.terminationGracePeriodSeconds }}
securityContext:
  {{- include "securevault.podSecurityContext" .context | nindent 2 }}
{{- with $root.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $root.topologySpread.enabled }}
topologySpreadConstraints:
  {{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
  - maxSkew: 1
    topologyKey: {{ . }}
    whenUnsatisfiable: {{ $root.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "securevault.selectorLabels" $ | nindent 8 }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
REDIS_URL without credentials: the bundled Redis's Service, else redis.url.
  value: {{ include "securevault.redisUrl" . | quote }}
*/}}
{{- define "securevault.redisUrl" -}}
{{- if .Values.redis.bundled.enabled -}}
redis://{{ include "securevault.componentName" (dict "context" . "component" "redis") }}:6379
{{- else -}}
{{ .Values.redis.url }}
{{- end }}
{{- end }}

{{/*
Pod template annotations: restart pods when a chart-created Secret changes.
  annotations:
    {{- include "securevault.podAnnotations" . | nindent 8 }}
*/}}
{{- define "securevault.podAnnotations" -}}
{{- if .Values.secrets.create -}}
checksum/secret: {{ toJson .Values.secrets.values | sha256sum }}
{{- else -}}
{}
{{- end }}
{{- end }}

{{/*
Headless Service exposing the management port for Prometheus (one per component, scraped by the
ServiceMonitor; never exposed publicly).
  {{ include "securevault.metricsService" (dict "context" $ "component" "app") }}
*/}}
{{- define "securevault.metricsService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "securevault.componentName" . }}-metrics
  namespace: {{ .context.Release.Namespace }}
  labels:
    {{- include "securevault.labels" . | nindent 4 }}
    securevault.io/metrics: "true"
spec:
  type: ClusterIP
  clusterIP: None
  selector:
    {{- include "securevault.selectorLabels" . | nindent 4 }}
  ports:
    - name: management
      port: 9464
      targetPort: management
      protocol: TCP
{{- end }}

{{/*
Memory quantity ("512Mi", "1Gi", "500M", "1048576") in bytes, for alert thresholds.
  {{ include "securevault.memoryBytes" "512Mi" }}  → 536870912
*/}}
{{- define "securevault.memoryBytes" -}}
{{- $q := toString . }}
{{- $num := regexFind "^[0-9.]+" $q }}
{{- $unit := trimPrefix $num $q }}
{{- $mult := dict "" 1 "k" 1000 "Ki" 1024 "M" 1000000 "Mi" 1048576 "G" 1000000000 "Gi" 1073741824 "T" 1000000000000 "Ti" 1099511627776 }}
{{- if not (hasKey $mult $unit) }}
{{- fail (printf "cannot read memory quantity %q" $q) }}
{{- end }}
{{- mulf (float64 $num) (index $mult $unit) | int64 }}
{{- end }}

{{/*
PromQL label matchers that scope a query to this release's scrape jobs.
  expr: up{ {{- include "securevault.promSelector" . -}} } == 0
*/}}
{{- define "securevault.promSelector" -}}
namespace="{{ .Release.Namespace }}", job=~"{{ include "securevault.fullname" . }}-(app|auth|audit|email-worker|ai-worker)-metrics"
{{- end }}
