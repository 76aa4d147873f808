package sync_test

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
)

// A first sync creates everything in dependency order; a
// second writes nothing.
func TestFirstSyncInOrderSecondWritesNothing(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	rep, rec := e.sync(files, sync.DefaultOptions())
	if len(rep.Applied) != 28 {
		t.Fatalf("first sync applied %d objects, want 28: %v", len(rep.Applied), rec.lines)
	}
	last := -1
	for _, l := range rec.lines {
		kind := strings.Fields(l)[1]
		if r := gateway.ApplyRank(kind); r < last {
			t.Errorf("%s applied after a later kind: %v", l, rec.lines)
		} else {
			last = r
		}
		if !strings.HasPrefix(l, "create ") {
			t.Errorf("first sync: %s, want create", l)
		}
	}
	before := e.live(allKinds...)
	if len(before) != 28 {
		t.Fatalf("%d live objects after the first sync, want 28", len(before))
	}
	rep, rec = e.sync(files, sync.DefaultOptions())
	if len(rep.Applied) != 0 || rep.Unchanged != 28 {
		t.Errorf("second sync applied %v, %d unchanged; want nothing applied", rec.lines, rep.Unchanged)
	}
	diffStrings(t, "resourceVersions after the second sync", before, e.live(allKinds...))

	parent, err := inventory.New(e.C.Reader(), e.NS, inventory.DefaultName).Parent(t.Context())
	if err != nil || parent.Revision != "rev1" || parent.SyncedAt == "" || len(parent.GroupKinds) != 7 {
		t.Errorf("inventory parent = %+v, %v; want revision rev1, a time and 7 group-kinds", parent, err)
	}
}

// An object of the same name that is not ours is an error
// naming it, and stays untouched.
func TestForeignObjectRefusedWithoutAdopt(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "minimax-vllm-inference", Labels: map[string]string{"owner": "someone-else"}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "other", Port: 9999}}},
	}
	created, err := e.C.Core.CoreV1().Services(e.NS).Create(t.Context(), svc, metav1.CreateOptions{FieldManager: "someone-else"})
	if err != nil {
		t.Fatal(err)
	}
	_, rec, err := e.trySync(t.Context(), files, sync.DefaultOptions())
	if !errors.Is(err, sync.ErrRefused) || !strings.Contains(err.Error(), "Service minimax-vllm-inference (models-config/models/minimax.yaml") ||
		!errors.Is(err, sync.ErrNotInSet) {
		t.Fatalf("sync error = %v, want a refusal naming the Service, its file and that it is not in the set (cmd adds --adopt)", err)
	}
	if len(rec.lines) != 0 || len(e.live(allKinds...)) != 1 {
		t.Errorf("a refused sync wrote %v; live objects %v", rec.lines, e.live(allKinds...))
	}
	after, err := e.C.Core.CoreV1().Services(e.NS).Get(t.Context(), svc.Name, metav1.GetOptions{})
	if err != nil || after.ResourceVersion != created.ResourceVersion || after.Labels[inventory.LabelPartOf] != "" {
		t.Errorf("the foreign Service was touched: %v %+v", err, after.ObjectMeta)
	}
}
