package generate

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"modelsync.dev/modelsync/tree/model"
)

// A served name that is not a DNS name keeps its value as the header clients
// send; the rule gets a valid name derived from it.
func TestRuleName(t *testing.T) {
	for _, tc := range []struct{ served, want string }{
		{"qwen3", "qwen3"},
		{"qwen3.5", "qwen3.5"},
		{"MiniMax-M2.5", "minimax-m2.5-"},
		{"org/model", "org-model-"},
		{"//", ""},
	} {
		m := &model.Model{Metadata: model.Metadata{Name: "m"}, Spec: model.Spec{Served: tc.served}}
		got := m.RuleName()
		if !strings.HasPrefix(got, tc.want) || len(validation.IsDNS1123Subdomain(got)) > 0 {
			t.Errorf("RuleName(%q) = %q, want a DNS name starting %q", tc.served, got, tc.want)
		}
		if rule := rule(m, nil); rule["name"] != got || rule["matches"].([]any)[0].(map[string]any)["headers"].([]any)[0].(map[string]any)["value"] != tc.served {
			t.Errorf("rule of %q: %v", tc.served, rule)
		}
	}
	a := &model.Model{Spec: model.Spec{Served: "Org/Model"}}
	b := &model.Model{Spec: model.Spec{Served: "org-model"}}
	if a.RuleName() == b.RuleName() {
		t.Errorf("two served names share the rule name %q", a.RuleName())
	}
}
