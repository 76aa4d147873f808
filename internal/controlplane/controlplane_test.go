package controlplane_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"modelsync.dev/modelsync/internal/testing/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

var routes = schema.GroupVersionResource{Group: "aigateway.envoyproxy.io", Version: "v1beta1", Resource: "aigatewayroutes"}

func loadRoute(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile("../../testdata/objects/aigatewayroute-v1beta1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(b, &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func apply(t *testing.T, ns string, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	t.Helper()
	dc := dynamic.NewForConfigOrDie(kubetest.Config(t))
	return dc.Resource(routes).Namespace(ns).Apply(t.Context(), u.GetName(), u,
		metav1.ApplyOptions{FieldManager: "modelsync", Force: true})
}

func TestServerVersionParses(t *testing.T) {
	dc := discovery.NewDiscoveryClientForConfigOrDie(kubetest.Config(t))
	v, err := dc.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.Major != "1" || v.Minor == "" || !strings.HasPrefix(v.GitVersion, "v1.") {
		t.Fatalf("server version %+v: kubectl cannot parse it; check the ldflags in the Makefile", v)
	}
}

func TestApplyRouteFillsServerDefaults(t *testing.T) {
	ns := kubetest.Namespace(t)
	got, err := apply(t, ns, loadRoute(t))
	if err != nil {
		t.Fatalf("server-side apply: %v", err)
	}
	rule := got.Object["spec"].(map[string]any)["rules"].([]any)[0].(map[string]any)
	backend := rule["backendRefs"].([]any)[0].(map[string]any)
	header := rule["matches"].([]any)[0].(map[string]any)["headers"].([]any)[0].(map[string]any)
	parent := got.Object["spec"].(map[string]any)["parentRefs"].([]any)[0].(map[string]any)
	want := map[string]any{
		"weight": int64(1), "priority": int64(0), "header type": "Exact",
		"modelsOwnedBy": "Envoy AI Gateway", "parent group": "gateway.networking.k8s.io", "parent kind": "Gateway",
	}
	gotDefaults := map[string]any{
		"weight": backend["weight"], "priority": backend["priority"], "header type": header["type"],
		"modelsOwnedBy": rule["modelsOwnedBy"], "parent group": parent["group"], "parent kind": parent["kind"],
	}
	if d := cmp.Diff(want, gotDefaults); d != "" {
		t.Errorf("server defaults (-want +got):\n%s", d)
	}
	if mf := got.GetManagedFields(); len(mf) != 1 || mf[0].Manager != "modelsync" || mf[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Errorf("managed fields = %+v, want one Apply entry for modelsync", mf)
	}
}

func TestAPIServerRejectsInvalidRoutes(t *testing.T) {
	ns := kubetest.Namespace(t)
	tests := []struct {
		name    string
		mutate  func(rules []any) []any
		wantErr string
	}{
		{
			name: "duplicate rule names (CEL)",
			mutate: func(rules []any) []any {
				return append(rules, rules[0])
			},
			wantErr: "rule name must be unique within the route",
		},
		{
			name: "sixteen rules (maxItems 15)",
			mutate: func(rules []any) []any {
				var out []any
				for i := range 16 {
					r := cloneRule(rules[0])
					r["name"] = fmt.Sprintf("model-%d", i)
					out = append(out, r)
				}
				return out
			},
			wantErr: "must have at most 15 items",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := loadRoute(t)
			spec := u.Object["spec"].(map[string]any)
			spec["rules"] = tt.mutate(spec["rules"].([]any))
			_, err := apply(t, ns, u)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("apply error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func cloneRule(r any) map[string]any {
	return runtimeDeepCopy(r.(map[string]any))
}

func runtimeDeepCopy(m map[string]any) map[string]any {
	return (&unstructured.Unstructured{Object: m}).DeepCopy().Object
}
