package generate

import (
	"cmp"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/model"
)

// The Gateway API Inference Extension's pool and endpoint picker, laid out as
// its inferencepool chart does (v1.0).
const (
	pickerPort        = 9002
	pickerHealthPort  = 9003
	pickerMetricsPort = 9090
	pickerConfigFile  = "default-plugins.yaml"
)

// pickerConfig is the chart's default scheduling: queue, KV-cache and
// prefix-cache scorers.
const pickerConfig = `apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
- type: kv-cache-utilization-scorer
- type: prefix-cache-scorer
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: queue-scorer
    weight: 2
  - pluginRef: kv-cache-utilization-scorer
    weight: 2
  - pluginRef: prefix-cache-scorer
    weight: 3
`

func pickerName(m *model.Model) string { return m.WorkloadName() + "-epp" }

// poolRef is how the rule sends to the pool.
func poolRef(m *model.Model) map[string]any {
	return gateway.RefTo(gateway.InferencePool, m.PoolName())
}

// pool is the InferencePool over the model's serving pods and the endpoint
// picker that schedules requests onto them: Deployment, Service,
// ServiceAccount, Role and RoleBinding, and its ConfigMap.
func pool(m *model.Model, ns string) []runtime.Object {
	p := m.Spec.Pool
	name, picker := m.PoolName(), pickerName(m)
	pickerLabels := labels(m, map[string]string{model.LabelApp: picker})
	inferencePool := newObject(gateway.PoolAPIVersion, gateway.InferencePool.Kind, ns, name, labels(m, nil), m.Metadata.Annotations, map[string]any{
		"targetPorts":       []any{map[string]any{"number": int64(model.ServerPort)}},
		"endpointPickerRef": map[string]any{"name": picker, "port": map[string]any{"number": int64(pickerPort)}},
	})
	_ = unstructured.SetNestedStringMap(inferencePool.Object, podSelector(m), "spec", "selector", "matchLabels")
	meta := metav1.ObjectMeta{Name: picker, Namespace: ns, Labels: pickerLabels, Annotations: m.Metadata.Annotations}
	replicas := int32(1)
	if p.PickerReplicas != nil {
		replicas = *p.PickerReplicas
	}
	grpcProbe := func(service string) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: pickerHealthPort, Service: ptr(service)}},
			InitialDelaySeconds: 5, PeriodSeconds: 10,
		}
	}
	deployment := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{model.LabelApp: picker}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{model.LabelApp: picker}},
				Spec: corev1.PodSpec{
					ServiceAccountName: picker,
					// The namespace's reserved nodes, as the model's own pods.
					Tolerations: []corev1.Toleration{{Key: model.ReservationKey, Operator: corev1.TolerationOpEqual,
						Value: cmp.Or(m.Spec.Server.Reservation, ns), Effect: corev1.TaintEffectNoSchedule}},
					// As long as the longest grace period of the pool's pods.
					TerminationGracePeriodSeconds: ptr(int64(130)),
					Containers: []corev1.Container{{
						Name:            "epp",
						Image:           cmp.Or(p.PickerImage, model.DefaultPickerImage),
						ImagePullPolicy: corev1.PullAlways,
						Args: []string{"--pool-name", name, "--pool-namespace", ns, "--zap-encoder", "json", "--log-level", "error",
							"--config-file", "/config/" + pickerConfigFile},
						Ports: []corev1.ContainerPort{
							{Name: "grpc", ContainerPort: pickerPort},
							{Name: "grpc-health", ContainerPort: pickerHealthPort},
							{Name: "metrics", ContainerPort: pickerMetricsPort},
						},
						LivenessProbe:  grpcProbe("inference-extension"),
						ReadinessProbe: grpcProbe("inference-extension"),
						Env:            []corev1.EnvVar{{Name: "NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}},
						VolumeMounts:   []corev1.VolumeMount{{Name: "plugins-config-volume", MountPath: "/config"}},
					}},
					Volumes: []corev1.Volume{{Name: "plugins-config-volume", VolumeSource: corev1.VolumeSource{
						ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: picker}},
					}}},
				},
			},
		},
	}
	service := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta,
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{model.LabelApp: picker},
			Ports: []corev1.ServicePort{
				{Name: "grpc-ext-proc", Port: pickerPort, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(pickerPort), AppProtocol: ptr("http2")},
				{Name: "http-metrics", Port: pickerMetricsPort, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(pickerMetricsPort)},
			},
		},
	}
	read := []string{"get", "watch", "list"}
	role := &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: meta,
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"inference.networking.x-k8s.io"}, Resources: []string{"inferenceobjectives", "inferencemodelrewrites"}, Verbs: read},
			{APIGroups: []string{gateway.PoolGroup}, Resources: []string{"inferencepools"}, Verbs: read},
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: read},
		},
	}
	binding := &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: meta,
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: picker, Namespace: ns}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: picker},
	}
	return []runtime.Object{
		inferencePool, deployment, service, role, binding,
		&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: meta},
		&corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: meta, Data: map[string]string{pickerConfigFile: pickerConfig}},
	}
}
