package sync_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/manifest"
)

// After a sync's wait, controllers have written status: the record's
// stamps no longer match, and a plan reads those members whole. Restamp
// records them again, so the next plan reads none whole, and it still
// leaves out what changed by hand.
func TestRestampAfterStatusWrites(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	e.sync(files, sync.DefaultOptions())
	sts := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
	list, err := e.C.Dynamic.Resource(sts).Namespace(e.NS).List(t.Context(), metav1.ListOptions{})
	if err != nil || len(list.Items) == 0 {
		t.Fatalf("%d StatefulSets: %v", len(list.Items), err)
	}
	for i := range list.Items {
		u := &list.Items[i]
		u.Object["status"] = map[string]any{"observedGeneration": u.GetGeneration(), "replicas": int64(1), "readyReplicas": int64(1)}
		if _, err := e.C.Dynamic.Resource(sts).Namespace(e.NS).UpdateStatus(t.Context(), u, metav1.UpdateOptions{FieldManager: "statefulset-controller"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.C.Dynamic.Resource(sts).Namespace(e.NS).Patch(t.Context(), list.Items[0].GetName(), "application/merge-patch+json",
		[]byte(`{"metadata":{"annotations":{"hand":"edit"}}}`), metav1.PatchOptions{FieldManager: "kubectl-annotate"}); err != nil {
		t.Fatal(err)
	}
	before, _ := e.Plan(files)
	set, err := desired.Load(t.Context(), manifest.Tree{FS: files, Root: "models-config"}, desired.Options{Namespace: e.NS})
	if err != nil {
		t.Fatal(err)
	}
	m := sync.NewManager(e.C, e.NS, inventory.DefaultName)
	if err := m.Restamp(t.Context(), set, diff.DefaultOptions(), sync.Unfenced{}); err != nil {
		t.Fatal(err)
	}
	after, _ := e.Plan(files)
	if after.Plan.Requests >= before.Plan.Requests {
		t.Errorf("a plan after Restamp took %d requests, one before it %d: the StatefulSets are still read whole", after.Plan.Requests, before.Plan.Requests)
	}
	if got, want := unsettled(after.Plan), unsettled(before.Plan); len(got) != 1 || len(want) != 1 || got[0] != want[0] {
		t.Errorf("changes after Restamp %v, before %v: want the hand edit, once", got, want)
	}
}

// unsettled lists a plan's changes other than unchanged objects.
func unsettled(p *diff.Plan) []string {
	var out []string
	for _, c := range p.Changes {
		if c.Action != diff.Unchanged {
			out = append(out, c.Line())
		}
	}
	return out
}
