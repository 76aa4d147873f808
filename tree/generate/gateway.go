package generate

import (
	"cmp"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/model"
)

// endpoint is the host and port the model's Backend points at.
func endpoint(m *model.Model, ns string) (string, int64) {
	if m.Spec.External != nil {
		return m.Spec.External.Hostname, int64(m.Spec.External.Port)
	}
	return m.WorkloadName() + "." + ns + ".svc.cluster.local", model.ServerPort
}

func backend(m *model.Model, ns string) *unstructured.Unstructured {
	host, port := endpoint(m, ns)
	return newObject(gateway.EnvoyGatewayVersion, gateway.Backend.Kind, ns, m.BackendName(), labels(m, nil), m.Metadata.Annotations, map[string]any{
		"endpoints": []any{map[string]any{"fqdn": map[string]any{"hostname": host, "port": port}}},
	})
}

func serviceBackend(m *model.Model, ns string) *unstructured.Unstructured {
	return newObject(gateway.AIGatewayAPIVersion, gateway.ServiceBackend.Kind, ns, m.BackendName(), labels(m, nil), m.Metadata.Annotations, map[string]any{
		"schema":     map[string]any{"name": cmp.Or(m.Spec.Schema, model.DefaultSchema)},
		"backendRef": gateway.RefTo(gateway.Backend, m.BackendName()),
	})
}

// backendRef is how a rule points at this model's AIServiceBackend.
func backendRef(m *model.Model) map[string]any {
	ref := map[string]any{"name": m.BackendName()}
	if m.Spec.Upstream != "" {
		ref["modelNameOverride"] = m.Spec.Upstream
	}
	return ref
}

// rule is the model's entry in its route group: a match on the x-ai-eg-model
// header, its backend (or, for a combined model, the backends it spreads over).
func rule(m *model.Model, backendRefs []any) map[string]any {
	r := map[string]any{
		"name": m.RuleName(),
		"matches": []any{map[string]any{"headers": []any{
			map[string]any{"type": "Exact", "name": gateway.ModelHeader, "value": m.ServedName()},
		}}},
		"backendRefs": backendRefs,
		"timeouts":    map[string]any{"request": cmp.Or(m.Spec.Timeout, model.DefaultTimeout)},
	}
	if m.Spec.OwnedBy != "" {
		r["modelsOwnedBy"] = m.Spec.OwnedBy
	}
	return r
}
