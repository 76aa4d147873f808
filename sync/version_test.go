package sync_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
)

// routeFiles are the tree's AIGatewayRoute files.
var routeFiles = []string{"models-config/gatewayroute/nrp.yaml", "models-config/gatewayroute/nrp-qwen.yaml"}

// routesAt is files with its AIGatewayRoutes written in version.
func routesAt(files fstest.MapFS, version string) fstest.MapFS {
	out := fstest.MapFS{}
	for name, f := range files {
		out[name] = &fstest.MapFile{Data: f.Data}
	}
	for _, name := range routeFiles {
		out[name].Data = bytes.Replace(out[name].Data, []byte("aigateway.envoyproxy.io/v1beta1"), []byte("aigateway.envoyproxy.io/"+version), 1)
	}
	return out
}

// applyEntryVersions are the apiVersions of modelsync's apply entries on the
// namespace's AIGatewayRoutes.
func (e *env) applyEntryVersions() []string {
	e.T.Helper()
	list, err := e.C.Dynamic.Resource(routes).Namespace(e.NS).List(e.T.Context(), metav1.ListOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	var out []string
	for i := range list.Items {
		if entry, ok := inventory.ApplyEntry(&list.Items[i]); ok {
			out = append(out, list.Items[i].GetName()+"@"+entry.APIVersion)
		}
	}
	slices.Sort(out)
	return out
}

// An API version no longer served blocks no removal. The routes were
// synced as v1alpha1; the tree moved to v1beta1, which changes nothing in
// them. The plan says modelsync's fields are recorded at the old version
// and re-applies them at the tree's. Before any sync did, the CRD stops
// serving v1alpha1: an approved prune of a model still removes its rule
// (modelsync reads the route at a served version), and the next sync moves
// modelsync's fields there, after which nothing is left to write.
func TestWithdrawnAPIVersionBlocksNoRemoval(t *testing.T) {
	cp := kubetest.PrivateControlPlane(t)
	e := privateEnv(t, cp, "withdrawn")
	files := kubetest.RepoTree(t)
	e.sync(routesAt(files, "v1alpha1"), sync.DefaultOptions())
	if got := e.applyEntryVersions(); !slices.Equal(got, []string{"envoy-ai-gateway-nrp-qwen@aigateway.envoyproxy.io/v1alpha1", "envoy-ai-gateway-nrp@aigateway.envoyproxy.io/v1alpha1"}) {
		t.Fatalf("modelsync's entries after the v1alpha1 sync: %v", got)
	}

	res, _ := e.Plan(files)
	for _, name := range []string{"envoy-ai-gateway-nrp", "envoy-ai-gateway-nrp-qwen"} {
		ch := change(t, res.Plan, "AIGatewayRoute", name)
		if ch.Action != diff.Update || !strings.Contains(ch.Message, "aigateway.envoyproxy.io/v1alpha1") {
			t.Errorf("the tree moved %s to v1beta1: %s %q, want an update that moves modelsync's fields", name, ch.Action, ch.Message)
		}
	}

	// The CRD stops serving v1alpha1; the jobs after it start anew.
	patch := []byte(`[{"op":"test","path":"/spec/versions/0/name","value":"v1alpha1"},{"op":"replace","path":"/spec/versions/0/served","value":false}]`)
	if _, err := e.C.Dynamic.Resource(crds).Patch(t.Context(), "aigatewayroutes.aigateway.envoyproxy.io", types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	c, err := cluster.New(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	e.C = c
	waitWithdrawn(t, e.C, schema.GroupVersion{Group: "aigateway.envoyproxy.io", Version: "v1alpha1"}, "aigatewayroutes")

	delete(files, embedding)
	res, _ = e.Plan(files)
	if rep, _, err := e.prune(files, approve(t, res.Plan), sync.DefaultPruneOptions()); err != nil {
		for _, p := range rep.Pruned {
			if p.Err != nil {
				t.Errorf("%s %s %s: %v", p.Change.Action, p.Change.Kind, p.Change.Name, p.Err)
			}
		}
		t.Fatalf("the approved prune with v1alpha1 withdrawn: %v", err)
	}
	if rules := ruleNames(e.get(routes, "envoy-ai-gateway-nrp")); slices.Contains(rules, "qwen3-embedding-8b") {
		t.Errorf("the pruned model's rule is still on the route: %v", rules)
	}
	e.sync(files, sync.DefaultOptions())
	if got := e.applyEntryVersions(); !slices.Equal(got, []string{"envoy-ai-gateway-nrp-qwen@aigateway.envoyproxy.io/v1beta1", "envoy-ai-gateway-nrp@aigateway.envoyproxy.io/v1beta1"}) {
		t.Errorf("modelsync's entries after the sync: %v, want both at v1beta1", got)
	}
	if res, _ = e.Plan(files); res.Plan.HasChanges() {
		t.Errorf("the plan after the sync has changes: %+v", res.Plan.Changes)
	}
}

// change is the plan's change of kind/name.
func change(t *testing.T, p *diff.Plan, kind, name string) diff.Change {
	t.Helper()
	for _, c := range p.Changes {
		if c.Kind == kind && c.Name == name {
			return c
		}
	}
	t.Fatalf("the plan has no %s %s", kind, name)
	return diff.Change{}
}

// waitWithdrawn waits until discovery no longer lists resource at gv.
func waitWithdrawn(t *testing.T, c *cluster.Clients, gv schema.GroupVersion, resource string) {
	t.Helper()
	for range 100 {
		list, err := c.Core.Discovery().ServerResourcesForGroupVersion(gv.String())
		if err != nil || !slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == resource }) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("discovery still lists %s at %s", resource, gv)
}
