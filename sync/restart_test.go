package sync_test

import (
	"context"
	"strings"
	gosync "sync"
	"testing"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
	"modelsync.dev/modelsync/tree/manifest"
)

// stopAfter stops the API server once n objects were applied.
type stopAfter struct {
	sync.NoProgress
	mu      gosync.Mutex
	n       int
	stop    func() error
	stopped bool
	applied int
	err     error
}

func (s *stopAfter) Applied(a sync.Applied) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.Err == nil {
		s.applied++
	}
	if s.applied >= s.n && !s.stopped {
		s.stopped = true
		s.err = s.stop()
	}
}

// The API server stopped in the middle of a sync gives a
// clear error; after a restart a rerun converges, and the inventory lists
// every object created before the stop.
func TestAPIServerStoppedMidSync(t *testing.T) {
	cp := kubetest.PrivateControlPlane(t)
	e := privateEnv(t, cp, "restart")
	files := kubetest.RepoTree(t)
	res, _ := e.Plan(files)
	stopper := &stopAfter{n: 10, stop: cp.StopAPIServer}
	_, err := sync.NewManager(e.C, e.NS, inventory.DefaultName).Apply(t.Context(), res, "rev1", sync.DefaultOptions(), stopper)
	if stopper.err != nil {
		t.Fatal(stopper.err)
	}
	if err == nil {
		t.Fatal("sync against a stopped API server succeeded")
	}
	t.Logf("the error a user sees: %v", err)
	if !containsAll(err.Error(), "lost the API server", "connection refused", "of 28 objects applied; failed: Backend envoy-ai-gateway-", "rerun sync") {
		t.Errorf("error %q does not name the cause, the objects and what to do", err)
	}

	cfg, err := cp.StartAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	if e.C, err = cluster.New(cfg); err != nil {
		t.Fatal(err)
	}
	created := e.live(allKinds...)
	if len(created) < stopper.applied || len(created) == 28 {
		t.Fatalf("%d objects exist after the interrupted sync, %d were applied before the stop", len(created), stopper.applied)
	}
	inv := inventory.New(e.C.Reader(), e.NS, inventory.DefaultName)
	found := map[string]string{}
	if err := listMembers(t.Context(), inv, found); err != nil {
		t.Fatal(err)
	}
	diffStrings(t, "inventory members after the interrupted sync", created, found)

	e.sync(files, sync.DefaultOptions())
	if res, _ := e.Plan(files); res.Plan.HasChanges() {
		t.Errorf("rerun did not converge: %+v", res.Plan.Changes)
	}
	clear(found)
	if err := listMembers(t.Context(), inv, found); err != nil || len(found) != 28 {
		t.Errorf("inventory lists %d members after the rerun (%v), want 28", len(found), err)
	}
}

// listMembers lists the set through the parent's group-kinds, as a later
// plan does.
func listMembers(ctx context.Context, inv *inventory.Inventory, out map[string]string) error {
	parent, err := inv.Parent(ctx)
	if err != nil {
		return err
	}
	members, err := inv.Members(ctx, inventory.Kinds(parent.GroupKinds), parent.Secrets, 8)
	for i := range members {
		id := manifest.IDOf(&members[i])
		out[id.Kind+" "+id.Name] = members[i].GetResourceVersion()
	}
	return err
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
