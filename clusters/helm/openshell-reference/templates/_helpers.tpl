{{- define "openshell.labels" -}}
app.kubernetes.io/name: openshell
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "openshell.selectorLabels" -}}
app.kubernetes.io/name: openshell
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "openshell.sandboxNamespace" -}}
{{- .Values.sandboxNamespace | default .Release.Namespace -}}
{{- end }}
