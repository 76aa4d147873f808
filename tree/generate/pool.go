package generate

import (
	"cmp"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/model"
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
func pool(m *model.Model, ns string) []*unstructured.Unstructured {
	name, picker := m.PoolName(), pickerName(m)
	inferencePool := newObject(gateway.PoolAPIVersion, gateway.InferencePool.Kind, ns, name, labels(m, nil), m.Metadata.Annotations, map[string]any{
		"selector":          map[string]any{"matchLabels": strs(podSelector(m))},
		"targetPorts":       []any{map[string]any{"number": int64(model.ServerPort)}},
		"endpointPickerRef": map[string]any{"name": picker, "port": map[string]any{"number": int64(pickerPort)}},
	})
	pickerMeta := func() map[string]any {
		return meta(picker, ns, labels(m, map[string]string{model.LabelApp: picker}), m.Metadata.Annotations)
	}
	deployment := pickerDeployment(m, ns, name, pickerMeta())
	service := object("v1", "Service", pickerMeta(), map[string]any{
		"spec": map[string]any{
			"type":     "ClusterIP",
			"selector": map[string]any{model.LabelApp: picker},
			"ports": []any{
				map[string]any{"name": "grpc-ext-proc", "port": int64(pickerPort), "protocol": "TCP", "targetPort": int64(pickerPort), "appProtocol": "http2"},
				map[string]any{"name": "http-metrics", "port": int64(pickerMetricsPort), "protocol": "TCP", "targetPort": int64(pickerMetricsPort)},
			},
		},
		"status": emptyServiceStatus(),
	})
	read := list("get", "watch", "list")
	rule := func(group string, resources ...string) map[string]any {
		return map[string]any{"apiGroups": list(group), "resources": list(resources...), "verbs": read}
	}
	role := object("rbac.authorization.k8s.io/v1", "Role", pickerMeta(), map[string]any{
		"rules": []any{
			rule("inference.networking.x-k8s.io", "inferenceobjectives", "inferencemodelrewrites"),
			rule(gateway.PoolGroup, "inferencepools"),
			rule("", "pods"),
		},
	})
	binding := object("rbac.authorization.k8s.io/v1", "RoleBinding", pickerMeta(), map[string]any{
		"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": picker, "namespace": ns}},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": picker},
	})
	return []*unstructured.Unstructured{
		inferencePool, deployment, service, role, binding,
		object("v1", "ServiceAccount", pickerMeta(), map[string]any{}),
		object("v1", "ConfigMap", pickerMeta(), map[string]any{"data": map[string]any{pickerConfigFile: pickerConfig}}),
	}
}

// pickerDeployment runs the pool's endpoint picker, as the
// inference extension's chart does.
func pickerDeployment(m *model.Model, ns, pool string, meta map[string]any) *unstructured.Unstructured {
	p, picker := m.Spec.Pool, pickerName(m)
	replicas := int32(1)
	if p.PickerReplicas != nil {
		replicas = *p.PickerReplicas
	}
	grpcProbe := func(service string) map[string]any {
		return map[string]any{
			"grpc":                map[string]any{"port": int64(pickerHealthPort), "service": service},
			"initialDelaySeconds": int64(5), "periodSeconds": int64(10),
		}
	}
	selector := map[string]any{model.LabelApp: picker}
	return object("apps/v1", "Deployment", meta, map[string]any{
		"spec": map[string]any{
			"replicas": int64(replicas),
			"selector": map[string]any{"matchLabels": selector},
			// What an unset typed strategy carried: see emptyServiceStatus.
			"strategy": map[string]any{},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{model.LabelApp: picker}},
				"spec": map[string]any{
					"serviceAccountName": picker,
					// The namespace's reserved nodes, as the model's own pods.
					"tolerations": []any{reservedFor(cmp.Or(m.Spec.Server.Reservation, ns))},
					// As long as the longest grace period of the pool's pods.
					"terminationGracePeriodSeconds": int64(130),
					"containers": []any{map[string]any{
						"name":            "epp",
						"image":           cmp.Or(p.PickerImage, model.DefaultPickerImage),
						"imagePullPolicy": "Always",
						"args": list("--pool-name", pool, "--pool-namespace", ns, "--zap-encoder", "json", "--log-level", "error",
							"--config-file", "/config/"+pickerConfigFile),
						"ports": []any{
							map[string]any{"name": "grpc", "containerPort": int64(pickerPort)},
							map[string]any{"name": "grpc-health", "containerPort": int64(pickerHealthPort)},
							map[string]any{"name": "metrics", "containerPort": int64(pickerMetricsPort)},
						},
						"livenessProbe":  grpcProbe("inference-extension"),
						"readinessProbe": grpcProbe("inference-extension"),
						"env": []any{map[string]any{"name": "NAMESPACE", "valueFrom": map[string]any{
							"fieldRef": map[string]any{"fieldPath": "metadata.namespace"},
						}}},
						"volumeMounts": []any{map[string]any{"name": "plugins-config-volume", "mountPath": "/config"}},
					}},
					"volumes": []any{map[string]any{"name": "plugins-config-volume", "configMap": map[string]any{"name": picker}}},
				},
			},
		},
	})
}
