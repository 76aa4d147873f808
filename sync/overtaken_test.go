package sync_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
)

// commit is one pipeline of the default branch at a revision: its plan
// (made before its sync, as the component does), then its sync.
func (e *env) commit(files fstest.MapFS, revision string) *diff.Plan {
	e.T.Helper()
	res, _ := e.Plan(files)
	res.Plan.Revision = revision
	if _, err := sync.NewManager(e.C, e.NS, inventory.DefaultName).Apply(e.T.Context(), res, revision, sync.DefaultOptions(), sync.NoProgress{}); err != nil {
		e.T.Fatal(err)
	}
	return approve(e.T, res.Plan)
}

// An approval cannot outlive its plan: once another pipeline's sync has
// overtaken it, its prune is refused and deletes nothing, although the tree
// of the commit that made it (which the prune's child pipeline reads) still
// lacks the model. The overtaking pipeline's own prune is the one that
// carries out what is still to remove.
func TestOvertakenApprovalIsRefused(t *testing.T) {
	const sts = "qwen3-embedding-8b-vllm-inference"
	for _, tc := range []struct {
		name string
		// next is the tree of the commit after A, which removed the model.
		next func(a, base fstest.MapFS) fstest.MapFS
		// removes is whether next's own prune removes the model.
		removes bool
	}{
		{"a revert re-adds the model", func(_, base fstest.MapFS) fstest.MapFS { return base }, false},
		{"an unrelated change is synced", func(a, _ fstest.MapFS) fstest.MapFS {
			next := fstest.MapFS{}
			for k, v := range a {
				next[k] = v
			}
			next["models-config/models/partner.yaml"] = kubetest.ExternalModel("partner", "envoy-ai-gateway-nrp")
			return next
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			base := kubetest.RepoTree(t)
			e.commit(base, "base")
			a := fstest.MapFS{}
			for k, v := range base {
				a[k] = v
			}
			delete(a, embedding)
			planA := e.commit(a, "A")
			if len(planA.Removals()) == 0 {
				t.Fatal("commit A's plan removes nothing; the test shows nothing")
			}
			next := tc.next(a, base)
			planB := e.commit(next, "B")

			_, _, err := e.prune(a, planA, sync.DefaultPruneOptions())
			if !errors.Is(err, sync.ErrStalePlan) || !strings.Contains(err.Error(), "synced at revision B") {
				t.Errorf("A's prune after B's sync: %v, want refused as overtaken by B", err)
			}
			if _, err := e.C.Core.AppsV1().StatefulSets(e.NS).Get(t.Context(), sts, metav1.GetOptions{}); err != nil {
				t.Fatalf("the overtaken prune deleted what it should not have: %v", err)
			}

			rep, _, err := e.prune(next, planB, sync.DefaultPruneOptions())
			if err != nil {
				t.Fatalf("B's own prune: %v", err)
			}
			_, err = e.C.Core.AppsV1().StatefulSets(e.NS).Get(t.Context(), sts, metav1.GetOptions{})
			if gone := apierrors.IsNotFound(err); gone != tc.removes {
				t.Errorf("after B's prune the StatefulSet is gone: %v, want %v (%d pruned)", gone, tc.removes, len(rep.Pruned))
			}
			if res, _ := e.Plan(next); res.Plan.HasChanges() {
				t.Errorf("B's tree is not what the namespace holds after B's prune: %+v", res.Plan.Changes)
			}
		})
	}
}
