package sync_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/sync"
)

// runbookRoute is an AIGatewayRoute as the runbook writes it by hand.
const runbookRoute = `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: envoy-ai-gateway-nrp
spec:
  parentRefs:
  - name: envoy-ai-gateway-nrp
    kind: Gateway
    group: gateway.networking.k8s.io
  rules:
  - name: qwen3
    matches:
    - headers:
      - {type: Exact, name: x-ai-eg-model, value: qwen3}
    backendRefs:
    - name: envoy-ai-gateway-nrp-qwen
  - name: gpt-oss
    matches:
    - headers:
      - {type: Exact, name: x-ai-eg-model, value: gpt-oss}
    backendRefs:
    - name: envoy-ai-gateway-gpt-oss
`

const runbookBackends = `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata:
  name: envoy-ai-gateway-nrp-qwen
spec:
  schema: {name: OpenAI}
  backendRef: {name: envoy-ai-gateway-nrp-qwen, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata:
  name: envoy-ai-gateway-gpt-oss
spec:
  schema: {name: OpenAI}
  backendRef: {name: envoy-ai-gateway-gpt-oss, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata:
  name: envoy-ai-gateway-nrp-qwen
spec:
  endpoints:
  - fqdn: {hostname: qwen3-vllm-inference.nrp-llm.svc.cluster.local, port: 5000}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata:
  name: envoy-ai-gateway-gpt-oss
spec:
  endpoints:
  - fqdn: {hostname: gpt-oss.example.org, port: 443}
`

// Objects applied by hand with client-side kubectl apply,
// adopted by sync --adopt from the same files; a rule removed from the file
// and pruned is really gone from the live object.
func TestAdoptHandAppliedThenPruneRule(t *testing.T) {
	e := newEnv(t)
	kubetest.Kubectl(t, e.NS, runbookRoute+"---\n"+runbookBackends, "apply", "-f", "-")
	files := fstest.MapFS{
		"models-config/gatewayroute/nrp.yaml":  &fstest.MapFile{Data: []byte(runbookRoute)},
		"models-config/servicebackend/ai.yaml": &fstest.MapFile{Data: []byte(runbookBackends)},
	}
	if _, _, err := e.trySync(t.Context(), files, sync.DefaultOptions()); !errors.Is(err, sync.ErrNotInSet) {
		t.Fatalf("sync without --adopt: %v, want a refusal", err)
	}
	opts := sync.DefaultOptions()
	opts.Adopt = true
	rep, _ := e.sync(files, opts)
	if len(rep.Applied) != 5 {
		t.Fatalf("adopted %d objects, want 5", len(rep.Applied))
	}
	route := e.get(routes, "envoy-ai-gateway-nrp")
	if _, ok := route.GetAnnotations()[sync.LastAppliedAnnotation]; ok {
		t.Error("last-applied-configuration kept after adoption")
	}
	for _, mf := range route.GetManagedFields() {
		if mf.Manager == "kubectl-client-side-apply" || mf.Manager == "before-first-apply" {
			t.Errorf("kubectl's field manager %s kept after adoption", mf.Manager)
		}
	}
	if res, _ := e.Plan(files); res.Plan.HasChanges() {
		t.Errorf("plan after adoption: %+v", res.Plan.Changes)
	}

	files["models-config/gatewayroute/nrp.yaml"].Data = []byte(strings.Split(runbookRoute, "  - name: gpt-oss")[0])
	res, _ := e.Plan(files)
	removals := res.Plan.Removals()
	if len(removals) != 1 || removals[0].Action != diff.PruneItem || removals[0].Item.Key != "gpt-oss" {
		t.Fatalf("removals = %+v, want the gpt-oss rule", removals)
	}
	if _, _, err := e.prune(files, approve(t, res.Plan), sync.DefaultPruneOptions()); err != nil {
		t.Fatal(err)
	}
	if rules := ruleNames(e.get(routes, "envoy-ai-gateway-nrp")); !slices.Equal(rules, []string{"qwen3"}) {
		t.Errorf("rules after prune = %v, want [qwen3]", rules)
	}
}
