package manifest_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/tree/manifest"
)

// IDOf reads the same identity as the Unstructured accessors do, for
// well-formed objects and for malformed ones.
func TestIDOfAsTheAccessors(t *testing.T) {
	for _, obj := range []map[string]any{
		{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": map[string]any{"name": "a", "namespace": "ns"}},
		{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "b"}},
		{"apiVersion": "", "kind": "Thing", "metadata": map[string]any{"name": "c"}},
		{"apiVersion": "a/b/c", "kind": "Odd", "metadata": map[string]any{"name": "d"}},
		{"apiVersion": "/v1", "kind": "Slash", "metadata": map[string]any{"name": "e"}},
		{"apiVersion": 5, "kind": 6, "metadata": map[string]any{"name": 7}},
		{"kind": "NoVersion"},
		{"apiVersion": "g/v", "metadata": "not a map"},
		{},
	} {
		u := &unstructured.Unstructured{Object: obj}
		gvk := u.GroupVersionKind()
		want := manifest.ID{Group: gvk.Group, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
		if got := manifest.IDOf(u); got != want {
			t.Errorf("IDOf(%v) = %+v, want %+v", obj, got, want)
		}
	}
}
