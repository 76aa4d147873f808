package gateway_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/internal/testing/objtest"
	"modelsync.dev/modelsync/tree/manifest"
)

func TestRuleKey(t *testing.T) {
	for _, tc := range []struct{ rule, want string }{
		{"{name: a, matches: [{headers: [{name: x-ai-eg-model, value: Qwen/Qwen3}]}]}", "Qwen/Qwen3"},
		{"{name: a, matches: [x, null, {headers: [y]}]}", "a"},
		{"{backendRefs: [b, {name: be}]}", "backend:be"},
		{"{backendRefs: [\"name\"]}", "(unkeyed rule)"},
		{"{name: 5}", "(unkeyed rule)"},
	} {
		var rule map[string]any
		if err := yaml.Unmarshal([]byte(tc.rule), &rule); err != nil {
			t.Fatal(err)
		}
		if got := gateway.RuleKey(rule); got != tc.want {
			t.Errorf("RuleKey(%s) = %q, want %q", tc.rule, got, tc.want)
		}
	}
}

func TestRefs(t *testing.T) {
	id := func(group, kind, name string) manifest.ID {
		return manifest.ID{Group: group, Kind: kind, Namespace: "ns", Name: name}
	}
	for _, tc := range []struct {
		name, obj string
		want      []gateway.Ref
	}{
		{"route rules to their backends", `{apiVersion: aigateway.envoyproxy.io/v1beta1, kind: AIGatewayRoute, metadata: {namespace: ns, name: r},
			spec: {rules: [{name: a, backendRefs: [{name: b1}, {name: p, group: inference.networking.k8s.io, kind: InferencePool}, x]}]}}`,
			[]gateway.Ref{{Entry: "a", ID: id("aigateway.envoyproxy.io", "AIServiceBackend", "b1")}, {Entry: "a", ID: id("inference.networking.k8s.io", "InferencePool", "p")}}},
		{"AIServiceBackend to its Backend", `{apiVersion: aigateway.envoyproxy.io/v1beta1, kind: AIServiceBackend, metadata: {namespace: ns, name: s},
			spec: {backendRef: {name: be, kind: Backend, group: gateway.envoyproxy.io}}}`,
			[]gateway.Ref{{ID: id("gateway.envoyproxy.io", "Backend", "be")}}},
		{"Backend to the Service its FQDN names, not to another namespace", `{apiVersion: gateway.envoyproxy.io/v1alpha1, kind: Backend, metadata: {namespace: ns, name: be},
			spec: {endpoints: [{fqdn: {hostname: m-vllm.ns.svc.cluster.local, port: 5000}}, {fqdn: {hostname: x.other.svc.cluster.local}}, {fqdn: {hostname: api.example.com}}]}}`,
			[]gateway.Ref{{ID: id("", "Service", "m-vllm")}}},
		{"traffic policy to the route of its HTTPRoute", `{apiVersion: gateway.envoyproxy.io/v1alpha1, kind: BackendTrafficPolicy, metadata: {namespace: ns, name: p},
			spec: {targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}, {kind: HTTPRoute}, 5]}}`,
			[]gateway.Ref{{Entry: "gateway.networking.k8s.io/HTTPRoute/r", ID: id("aigateway.envoyproxy.io", "AIGatewayRoute", "r")}}},
		{"StatefulSet to its governing Service", `{apiVersion: apps/v1, kind: StatefulSet, metadata: {namespace: ns, name: s}, spec: {serviceName: svc}}`,
			[]gateway.Ref{{ID: id("", "Service", "svc")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, gateway.Refs(objtest.Object(t, tc.obj))); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestShapeErrors(t *testing.T) {
	for _, tc := range []struct {
		obj  string
		want []string
	}{
		{`{apiVersion: aigateway.envoyproxy.io/v1beta1, kind: AIGatewayRoute, spec: {rules: [{name: a}]}}`, nil},
		{`{apiVersion: aigateway.envoyproxy.io/v1beta1, kind: AIGatewayRoute, spec: {rules: hello}}`, []string{"spec.rules is a string, not a list of rules"}},
		{`{apiVersion: gateway.envoyproxy.io/v1alpha1, kind: BackendTrafficPolicy, spec: {targetRefs: [{name: a}, 5]}}`, []string{"spec.targetRefs[1] is a number, not a targetRef (an object)"}},
		{`{apiVersion: v1, kind: ConfigMap, spec: {rules: hello}}`, nil},
		{`{apiVersion: aigateway.envoyproxy.io/v1beta1, kind: AIGatewayRoute, spec: {rules: [{name: a, backendRefs: ["name"]}]}}`, []string{"spec.rules[0].backendRefs[0] is a string, not a backendRef (an object)"}},
		{`{apiVersion: aigateway.envoyproxy.io/v1beta1, kind: AIGatewayRoute, spec: {rules: [{name: a, backendRefs: [{name: b}]}, {name: c, backendRefs: [null]}]}}`, []string{"spec.rules[1].backendRefs[0] is null, not a backendRef (an object)"}},
		{`{apiVersion: aigateway.envoyproxy.io/v1beta1, kind: AIGatewayRoute, spec: {rules: [{name: a, backendRefs: b, matches: [x]}]}}`, []string{"spec.rules[0].backendRefs is a string, not a list of backendRefs", "spec.rules[0].matches[0] is a string, not a match (an object)"}},
	} {
		var got []string
		for _, e := range gateway.ShapeErrors(objtest.Object(t, tc.obj)) {
			got = append(got, e.Msg)
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.obj, d)
		}
	}
}

// TestSetItemsCopies: entries handed from one object to another through
// SetItems are not shared, so changing one object never changes the other
// (Items itself does not copy).
func TestSetItemsCopies(t *testing.T) {
	route := func(name string, rules ...any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"rules": rules}}}
		u.SetAPIVersion(gateway.Route.Group + "/v1beta1")
		u.SetKind(gateway.Route.Kind)
		u.SetName(name)
		return u
	}
	rule := func(model string) map[string]any {
		return map[string]any{"name": model, "timeouts": map[string]any{"request": "60s"}}
	}
	from, to := route("a", rule("m1"), rule("m2")), route("b")
	if err := gateway.SetItems(to, gateway.Items(from)); err != nil {
		t.Fatal(err)
	}
	for _, it := range gateway.Items(to) {
		it.Value["timeouts"].(map[string]any)["request"] = "1s"
	}
	for _, it := range gateway.Items(from) {
		if got := it.Value["timeouts"].(map[string]any)["request"]; got != "60s" {
			t.Errorf("rule %s of the giving route changed with the receiving one's: request timeout %v", it.Key, got)
		}
	}
	if got := len(gateway.Items(to)); got != 2 {
		t.Errorf("receiving route holds %d rules, want 2", got)
	}
}
