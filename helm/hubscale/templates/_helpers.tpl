{{/* Names, labels and images shared by every template. */}}

{{/* The chart name, or nameOverride. */}}
{{- define "hubscale.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every object name: "<release>-hubscale", or the release name when it already
says hubscale, or fullnameOverride. Kept short so "<prefix>-proxy-public" fits in 63. */}}
{{- define "hubscale.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "hubscale.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Object names. */}}
{{- define "hubscale.hub" -}}{{ include "hubscale.fullname" . }}-hub{{- end -}}
{{- define "hubscale.proxy" -}}{{ include "hubscale.fullname" . }}-proxy{{- end -}}
{{- define "hubscale.proxyApi" -}}{{ include "hubscale.fullname" . }}-proxy-api{{- end -}}
{{- define "hubscale.proxyPublic" -}}{{ include "hubscale.fullname" . }}-proxy-public{{- end -}}
{{- define "hubscale.autoscaler" -}}{{ include "hubscale.fullname" . }}-autoscaler{{- end -}}
{{- define "hubscale.usage" -}}{{ include "hubscale.fullname" . }}-usage{{- end -}}
{{- define "hubscale.singleuser" -}}{{ include "hubscale.fullname" . }}-singleuser{{- end -}}
{{- define "hubscale.clusters" -}}{{ include "hubscale.fullname" . }}-clusters{{- end -}}
{{- define "hubscale.secret" -}}{{ include "hubscale.fullname" . }}-hub-secret{{- end -}}
{{- /* The notebook pods' activity page port: hubscale/kube_conf.py NOTEBOOK_ACTIVITY_PORT (a test
keeps them equal). */ -}}
{{- define "hubscale.activityPort" -}}9188{{- end -}}

{{/* Labels of every object; call with (dict "root" $ "component" "hub"). */}}
{{- define "hubscale.labels" -}}
{{ include "hubscale.selectorLabels" . }}
app.kubernetes.io/part-of: hubscale
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* What selectors match: name, instance, component. */}}
{{- define "hubscale.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hubscale.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* "repository:tag" of an image value; call with (dict "root" $ "image" .Values.hub.image).
An empty repository means the hub image's, an empty tag the chart's appVersion; a tag that is a
digest ("@sha256:...") is appended as is. */}}
{{- define "hubscale.image" -}}
{{- $repository := .image.repository | default .root.Values.hub.image.repository -}}
{{- $tag := .image.tag | default .root.Chart.AppVersion -}}
{{- if hasPrefix "@" $tag -}}
{{- printf "%s%s" $repository $tag -}}
{{- else -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The pod securityContext of the chart's own pods: non-root, RuntimeDefault seccomp. */}}
{{- define "hubscale.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The container securityContext of the chart's own containers. */}}
{{- define "hubscale.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "hubscale.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Egress rules every pod of the chart gets: DNS in any namespace, and addresses outside the
cluster but the blocked CIDRs (the cloud metadata service by default: 169.254.169.254, and
fd00:ec2::254 where AWS serves it over IPv6), both address families alike. */}}
{{- define "hubscale.egressBase" -}}
{{- $ipv4 := list -}}
{{- $ipv6 := list -}}
{{- range .Values.networkPolicy.blockedEgressCIDRs -}}
{{- if contains ":" . -}}
{{- $ipv6 = append $ipv6 . -}}
{{- else -}}
{{- $ipv4 = append $ipv4 . -}}
{{- end -}}
{{- end -}}
- to:
    - namespaceSelector: {}
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
- to:
    - ipBlock:
        cidr: 0.0.0.0/0
        {{- with $ipv4 }}
        except:
          {{- toYaml . | nindent 10 }}
        {{- end }}
    - ipBlock:
        cidr: ::/0
        {{- with $ipv6 }}
        except:
          {{- toYaml . | nindent 10 }}
        {{- end }}
{{- end -}}

{{/* The authenticator the hub runs: hub.authenticatorClass, checked. No default: an admin
chooses one, and the shared password (anyone logs in as any name) only with its acknowledgement. */}}
{{- define "hubscale.authenticator" -}}
{{- $class := .Values.hub.authenticatorClass -}}
{{- if not $class -}}
{{- fail "hub.authenticatorClass: choose how users log in: an authenticator such as generic-oauth (OAuthenticator, its settings in hub.config; see the README's production example), or for a trial shared-password with hub.sharedPassword.acknowledgeInsecure=true" -}}
{{- end -}}
{{- if and (eq $class "shared-password") (not .Values.hub.sharedPassword.acknowledgeInsecure) -}}
{{- fail "hub.sharedPassword.acknowledgeInsecure: hub.authenticatorClass is shared-password, under which anyone with the one password logs in as any user name; set hub.sharedPassword.acknowledgeInsecure=true to accept that for a trial, or choose a real authenticator" -}}
{{- end -}}
{{- $class -}}
{{- end -}}

{{/* Whether the proxy serves HTTPS itself; fails with the value path when the TLS values do not
fit together. "true" or "". */}}
{{- define "hubscale.proxyHttps" -}}
{{- $https := .Values.proxy.https -}}
{{- if $https.enabled -}}
{{- if not $https.secret.name -}}
{{- fail "proxy.https.secret.name: proxy.https is enabled with type secret: name the kubernetes.io/tls Secret holding the certificate and key" -}}
{{- end -}}
{{- if .Values.ingress.enabled -}}
{{- fail "proxy.https.enabled: TLS goes either at the proxy (proxy.https) or at the ingress (ingress.tls), not both: the ingress forwards to the proxy's HTTP port" -}}
{{- end -}}
true
{{- end -}}
{{- end -}}

{{/* The profiles document the hub reads: the values' profiles, else the shipped file. Fails with
the value path when two profiles share a name or more than one is the default. */}}
{{- define "hubscale.profiles" -}}
{{- if .Values.hub.profiles -}}
{{- $seen := dict -}}
{{- $defaults := 0 -}}
{{- range $index, $profile := .Values.hub.profiles -}}
{{- if hasKey $seen $profile.name -}}
{{- fail (printf "hub.profiles[%d].name: duplicate name %q, also hub.profiles[%v]" $index $profile.name (get $seen $profile.name)) -}}
{{- end -}}
{{- $_ := set $seen $profile.name $index -}}
{{- if $profile.default -}}{{- $defaults = add1 $defaults -}}{{- end -}}
{{- if gt $defaults 1 -}}
{{- fail (printf "hub.profiles[%d].default: only one profile may be the default" $index) -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "profiles" .Values.hub.profiles) -}}
{{- else -}}
{{- .Files.Get "files/hub/profiles.yaml" -}}
{{- end -}}
{{- end -}}

