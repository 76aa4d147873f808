package desired_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/tree/validation"
)

// Malformed entries in hand-written gateway objects are diagnostics naming
// file:line, never a crash and never dropped without a word.
func TestMalformedGatewayEntries(t *testing.T) {
	route := func(rules string) string {
		return "apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIGatewayRoute\nmetadata:\n  name: r\nspec:\n  parentRefs:\n  - name: gw\n  rules:" + rules + "\n"
	}
	policy := func(refs string) string {
		return "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata:\n  name: p\nspec:\n  targetRefs:" + refs + "\n"
	}
	for _, tc := range []struct {
		name, file, text, want string
		line                   int
	}{
		{"matches holding strings", "gatewayroute/r.yaml", route("\n  - name: a\n    matches: [x, null]\n    backendRefs: [{name: b}]"), "spec.rules[0].matches[0] is a string, not a match", 10},
		{"backendRefs of strings", "gatewayroute/r.yaml", route("\n  - name: a\n    backendRefs: [\"name\"]"), "spec.rules[0].backendRefs[0] is a string, not a backendRef", 10},
		{"backendRefs of null", "gatewayroute/r.yaml", route("\n  - name: a\n    backendRefs: [{name: b}]\n  - name: c\n    backendRefs:\n    - null"), "spec.rules[1].backendRefs[0] is null, not a backendRef", 13},
		{"rules: hello", "gatewayroute/r.yaml", route(" hello"), "spec.rules is a string, not a list of rules", 8},
		{"rules of strings", "gatewayroute/r.yaml", route(" [a, b]"), "spec.rules[0] is a string, not a rule", 8},
		{"targetRefs: 5", "trafficpolicy.yaml", policy(" 5"), "spec.targetRefs is a number, not a list of targetRefs", 6},
		{"targetRefs: [a, b]", "trafficpolicy.yaml", policy(" [a, b]"), "spec.targetRefs[1] is a string, not a targetRef", 6},
		{"targetRef without name", "trafficpolicy.yaml", policy("\n  - {group: gateway.networking.k8s.io, kind: HTTPRoute}"), "", 0},
		{"targetRef name: 5", "trafficpolicy.yaml", policy("\n  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: 5}"), "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := load(t, fstest.MapFS{"models-config/" + tc.file: &fstest.MapFile{Data: []byte(tc.text)}})
			var errs []string
			for _, d := range set.Diagnostics {
				if d.Severity == validation.Error {
					errs = append(errs, d.String())
				}
			}
			if tc.want == "" {
				return // no crash is what this case asks; other rules may report it
			}
			at := fmt.Sprintf("models-config/%s:%d:", tc.file, tc.line)
			for _, e := range errs {
				if strings.Contains(e, tc.want) && strings.HasPrefix(e, at) {
					return
				}
			}
			t.Errorf("no error %q at %s; got %v", tc.want, at, errs)
		})
	}
}

// A traffic policy that targets a route group's HTTPRoute covers every shard
// of the group: models moved to <route>-2 keep their retry policy.
func TestTrafficPolicyFollowsShards(t *testing.T) {
	files := kubetest.GeneratedTree(35) // g0: 15 rules, g0-2: 15, g0-3: 5
	files["models-config/trafficpolicy.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata:\n  name: retry\nspec:\n  targetRefs:\n  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: g0}\n  retry: {numRetries: 5}\n")}
	set := load(t, files)
	if set.HasErrors() {
		t.Fatalf("tree has errors: %v", set.Diagnostics)
	}
	var got []string
	for _, o := range set.Objects {
		if o.GetKind() == "BackendTrafficPolicy" {
			for _, it := range gateway.Items(o.Unstructured) {
				got = append(got, it.Key)
			}
		}
	}
	want := []string{"gateway.networking.k8s.io/HTTPRoute/g0", "gateway.networking.k8s.io/HTTPRoute/g0-2", "gateway.networking.k8s.io/HTTPRoute/g0-3"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("traffic policy targets %v, want %v", got, want)
	}
}

// A mistake in a Model names the field, what it should be, and its line.
func TestModelFieldErrorsPointAtTheField(t *testing.T) {
	model := "apiVersion: modelsync.dev/v1alpha1\nkind: Model\nmetadata:\n  name: m\nspec:\n  upstream: org/m\n  server:\n    image: vllm/vllm-openai:v0.11.2\n    weightsGi: 16\n    paramsB: 8\n"
	for _, tc := range []struct{ name, extra, want string }{
		{"wrong type", "    gpus: four\n", "models-config/models/m.yaml:11: error: Model m: spec.server.gpus: want a whole number, got string"},
		{"misspelt", "    gpus: 1\n    maxModelLenght: 4096\n", "models-config/models/m.yaml:12: error: Model m: unknown field \"spec.server.maxModelLenght\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := load(t, fstest.MapFS{"models-config/models/m.yaml": &fstest.MapFile{Data: []byte(model + tc.extra)}})
			var got []string
			for _, d := range set.Diagnostics {
				got = append(got, d.String())
			}
			if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, tc.want) }) {
				t.Errorf("diagnostics %q lack %q", got, tc.want)
			}
		})
	}
}
