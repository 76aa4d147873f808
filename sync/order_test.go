package sync

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func obj(kind string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"kind": kind, "spec": spec}}
}

func ref(kind, name string) map[string]any { return map[string]any{"kind": kind, "name": name} }

// TestOrderFollowsReferences: kinds the table does not know go after what
// they reference, and what references them goes after them.
func TestOrderFollowsReferences(t *testing.T) {
	tests := []struct {
		name   string
		objs   []*unstructured.Unstructured
		before [][2]string // each pair: first strictly before second
	}{
		{
			name: "a route after the pool it sends to, the pool after its picker's Service",
			objs: []*unstructured.Unstructured{
				obj("AIGatewayRoute", map[string]any{"rules": []any{map[string]any{"backendRefs": []any{
					map[string]any{"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "p"}}}}}),
				obj("InferencePool", map[string]any{"endpointPickerRef": map[string]any{"kind": "Service", "name": "p-epp", "port": map[string]any{"number": int64(9002)}}}),
				obj("Service", nil),
			},
			before: [][2]string{{"Service", "InferencePool"}, {"InferencePool", "AIGatewayRoute"}},
		},
		{
			name: "a pool the table ranks beside workloads that a route's Backend chain does not touch",
			objs: []*unstructured.Unstructured{
				obj("InferencePool", map[string]any{"endpointPickerRef": ref("Service", "epp")}),
				obj("Service", nil),
				obj("AIServiceBackend", map[string]any{"backendRef": ref("Backend", "b")}),
				obj("Backend", nil),
			},
			before: [][2]string{{"Service", "InferencePool"}, {"Backend", "AIServiceBackend"}},
		},
		{
			name:   "a RoleBinding after its Role and ServiceAccount",
			objs:   []*unstructured.Unstructured{{Object: map[string]any{"kind": "RoleBinding", "roleRef": ref("Role", "r"), "subjects": []any{ref("ServiceAccount", "sa")}}}, obj("Role", nil), obj("ServiceAccount", nil)},
			before: [][2]string{{"Role", "RoleBinding"}, {"ServiceAccount", "RoleBinding"}},
		},
		{
			name: "a CRD kind referencing a CRD kind",
			objs: []*unstructured.Unstructured{
				obj("InferenceObjective", map[string]any{"poolRef": ref("InferencePool", "p")}),
				obj("InferencePool", map[string]any{"endpointPickerRef": ref("Service", "epp")}),
				obj("Service", nil),
			},
			before: [][2]string{{"Service", "InferencePool"}, {"InferencePool", "InferenceObjective"}},
		},
		{
			name:   "a cycle ends",
			objs:   []*unstructured.Unstructured{obj("A", map[string]any{"x": ref("B", "b")}), obj("B", map[string]any{"y": ref("A", "a")})},
			before: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrder(tt.objs)
			for _, p := range tt.before {
				if o.rank(p[0]) >= o.rank(p[1]) {
					t.Errorf("%s (rank %d) is not before %s (rank %d): %v", p[0], o.rank(p[0]), p[1], o.rank(p[1]), o)
				}
			}
		})
	}
}
