package sync_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
)

// The guards against deletions that look like a mistake.
func TestGuards(t *testing.T) {
	t.Run("a wrong path that still holds one object", func(t *testing.T) {
		e := newEnv(t)
		files := kubetest.RepoTree(t)
		e.sync(files, sync.DefaultOptions())
		one := fstest.MapFS{"models-config/settings.yaml": &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n")}}
		res, _ := e.Plan(one)
		opts := sync.DefaultPruneOptions()
		opts.MaxPrunes = 1000 // the count rule alone would let it through
		_, _, err := e.prune(one, approve(t, res.Plan), opts)
		if !errors.Is(err, sync.ErrMassPrune) || !strings.Contains(err.Error(), "more than half") {
			t.Fatalf("prune of a one-object tree: %v", err)
		}
		if n := len(e.live(allKinds...)); n != 28 {
			t.Errorf("the guard let %d objects go", 28-n)
		}
	})
	t.Run("every member of a kind", func(t *testing.T) {
		e := newEnv(t)
		files := kubetest.RepoTree(t)
		for _, n := range []string{"a", "b"} {
			files["models-config/chat-"+n+".yaml"] = &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: chat-" + n + "\ndata:\n  k: v\n")}
		}
		e.sync(files, sync.DefaultOptions())
		delete(files, "models-config/chat-a.yaml")
		delete(files, "models-config/chat-b.yaml")
		res, _ := e.Plan(files)
		_, _, err := e.prune(files, approve(t, res.Plan), sync.DefaultPruneOptions())
		if !errors.Is(err, sync.ErrMassPrune) || !strings.Contains(err.Error(), "every ConfigMap of the set (2)") {
			t.Fatalf("prune removing both ConfigMaps of the set: %v", err)
		}
		opts := sync.DefaultPruneOptions()
		opts.AllowMass = true
		if _, _, err := e.prune(files, approve(t, res.Plan), opts); err != nil {
			t.Fatalf("with AllowMass: %v", err)
		}
	})
	t.Run("sync of an empty tree", func(t *testing.T) {
		e := newEnv(t)
		files := kubetest.RepoTree(t)
		e.sync(files, sync.DefaultOptions())
		before := parentOf(t, e)
		empty := fstest.MapFS{"models-config/README.md": &fstest.MapFile{Data: []byte("nothing")}}
		_, rec, err := e.trySync(t.Context(), empty, sync.DefaultOptions())
		if !errors.Is(err, sync.ErrEmptyTree) || len(rec.lines) != 0 {
			t.Fatalf("sync of an empty tree: %v, wrote %v", err, rec.lines)
		}
		if after := parentOf(t, e); len(after.Verified) != len(before.Verified) || after.Revision != before.Revision {
			t.Errorf("the refused sync changed the inventory: %d → %d records", len(before.Verified), len(after.Verified))
		}
	})
	t.Run("a member modelsync never applied", func(t *testing.T) {
		e := newEnv(t)
		files := kubetest.RepoTree(t)
		e.sync(files, sync.DefaultOptions())
		inv := inventory.New(e.C.Reader(), e.NS, inventory.DefaultName)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "someone-elses", Labels: map[string]string{inventory.LabelPartOf: inv.ID()}}}
		if _, err := e.C.Core.CoreV1().ConfigMaps(e.NS).Create(t.Context(), cm, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
			t.Fatal(err)
		}
		parent := parentOf(t, e)
		parent.GroupKinds = append(parent.GroupKinds, corev1.SchemeGroupVersion.WithKind("ConfigMap").GroupKind())
		if err := inv.Update(t.Context(), e.C, parent); err != nil {
			t.Fatal(err)
		}
		res, _ := e.Plan(files)
		i := slices.IndexFunc(res.Plan.Changes, func(c diff.Change) bool { return c.Name == "someone-elses" })
		if i < 0 || !res.Plan.Changes[i].NeverApplied || !strings.Contains(res.Plan.Changes[i].Message, "never applied") {
			t.Fatalf("the foreign ConfigMap in the plan: %+v", res.Plan.Changes)
		}
		if _, _, err := e.prune(files, approve(t, res.Plan), sync.DefaultPruneOptions()); !errors.Is(err, sync.ErrNeverApplied) {
			t.Fatalf("prune of a member modelsync never applied: %v", err)
		}
		if _, err := e.C.Core.CoreV1().ConfigMaps(e.NS).Get(t.Context(), "someone-elses", metav1.GetOptions{}); err != nil {
			t.Fatalf("deleted without consent: %v", err)
		}
		opts := sync.DefaultPruneOptions()
		opts.PruneNeverApplied = true
		if _, _, err := e.prune(files, approve(t, res.Plan), opts); err != nil {
			t.Fatalf("prune with consent: %v", err)
		}
	})
	t.Run("delete-pvcs deletes only the approved claims", func(t *testing.T) {
		e := newEnv(t)
		files := kubetest.RepoTree(t)
		e.sync(files, sync.DefaultOptions())
		approvedClaim := e.createClaim("qwen3-embedding-8b-vllm-inference")
		delete(files, embedding)
		res, _ := e.Plan(files)
		i := slices.IndexFunc(res.Plan.Changes, func(c diff.Change) bool { return c.Kind == "StatefulSet" && c.Action == diff.Prune })
		if i < 0 || len(res.Plan.Changes[i].Claims) != 1 || res.Plan.Changes[i].Claims[0].Name != approvedClaim {
			t.Fatalf("the plan does not list the claim: %+v", res.Plan.Changes)
		}
		late := strings.TrimSuffix(approvedClaim, "-0") + "-1"
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: late}, Spec: mustClaim(t, e, approvedClaim).Spec}
		pvc.Spec.VolumeName = ""
		if _, err := e.C.Core.CoreV1().PersistentVolumeClaims(e.NS).Create(t.Context(), pvc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		opts := sync.DefaultPruneOptions()
		opts.DeleteClaims = true
		rep, _, err := e.prune(files, approve(t, res.Plan), opts)
		if err != nil {
			t.Fatal(err)
		}
		diffStrings(t, "claims deleted", []string{approvedClaim}, rep.Claims)
		if got := mustClaim(t, e, late); got.DeletionTimestamp != nil {
			t.Errorf("the claim created after the plan was deleted")
		}
	})
	t.Run("an object being deleted shows as terminating", func(t *testing.T) {
		e := newEnv(t)
		files := kubetest.RepoTree(t)
		e.sync(files, sync.DefaultOptions())
		name := "qwen3-embedding-8b-vllm-inference"
		hold := []byte(`{"metadata":{"finalizers":["example.com/hold"]}}`)
		if _, err := e.C.Core.CoreV1().Services(e.NS).Patch(t.Context(), name, types.MergePatchType, hold, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := e.C.Core.CoreV1().Services(e.NS).Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = e.C.Core.CoreV1().Services(e.NS).Patch(t.Context(), name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		})
		res, _ := e.Plan(files)
		i := slices.IndexFunc(res.Plan.Changes, func(c diff.Change) bool { return c.Kind == "Service" && c.Name == name })
		if i < 0 || res.Plan.Changes[i].Action != diff.Terminating || !slices.Contains(res.Plan.Changes[i].Finalizers, "example.com/hold") {
			t.Fatalf("the terminating Service in the plan: %+v", res.Plan.Changes[i])
		}
		if !res.Plan.HasChanges() {
			t.Error("a plan with a terminating object says nothing to do")
		}
	})
	t.Run("a record another manager wrote is ignored", func(t *testing.T) {
		e := newEnv(t)
		files := kubetest.RepoTree(t)
		e.sync(files, sync.DefaultOptions())
		if res, _ := e.Plan(files); res.Plan.Verified == 0 {
			t.Fatal("the record is not used at all; the case shows nothing")
		}
		forged := []byte(`{"data":{"` + inventory.DataVerified + `":"Zm9yZ2Vk"}}`)
		if _, err := e.C.Core.CoreV1().Secrets(e.NS).Patch(t.Context(), inventory.DefaultName, types.MergePatchType, forged, metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
			t.Fatal(err)
		}
		res, _ := e.Plan(files)
		if res.Plan.Verified != 0 || !slices.ContainsFunc(res.Plan.Warnings, func(w string) bool {
			return strings.Contains(w, "record was ignored") && strings.Contains(w, "kubectl-edit")
		}) {
			t.Errorf("after a forged record: %d verified, warnings %v", res.Plan.Verified, res.Plan.Warnings)
		}
	})
}

func parentOf(t *testing.T, e *env) inventory.Parent {
	t.Helper()
	p, err := inventory.New(e.C.Reader(), e.NS, inventory.DefaultName).Parent(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustClaim(t *testing.T, e *env, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	c, err := e.C.Core.CoreV1().PersistentVolumeClaims(e.NS).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A tree change that touches every StatefulSet's claim template (a storage
// class on every Model) is one replace per StatefulSet: the guard counts
// them as deletions, and with consent they go one at a time, each ready
// before the next, so the models are never all down together. (No
// StatefulSet controller runs here: the first replacement never gets ready,
// and the others are not touched.)
func TestReplacementsAreGuardedAndStaged(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	e.sync(files, sync.DefaultOptions())
	before := e.live(statefulSet)
	for name, f := range files {
		if strings.HasPrefix(name, "models-config/models/") && strings.Contains(string(f.Data), "  server:\n") {
			files[name] = &fstest.MapFile{Data: []byte(strings.Replace(string(f.Data), "  server:\n", "  server:\n    storageClass: fast\n", 1))}
		}
	}
	res, _ := e.Plan(files)
	replaces := res.Plan.Counts()[diff.Replace]
	if replaces < 2 || replaces != len(before) {
		t.Fatalf("%d replaces planned for %d StatefulSets", replaces, len(before))
	}
	approved := approve(t, res.Plan)
	if _, _, err := e.prune(files, approved, sync.DefaultPruneOptions()); !errors.Is(err, sync.ErrMassPrune) {
		t.Fatalf("replacing every StatefulSet without consent: %v, want the mass-prune guard", err)
	}
	diffStrings(t, "StatefulSets after the refusal", before, e.live(statefulSet))

	opts := sync.DefaultPruneOptions()
	opts.AllowMass = true
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	now, _ := e.Plan(files)
	rep, err := sync.NewManager(e.C, e.NS, inventory.DefaultName).Prune(ctx, approved, now, opts, sync.NoProgress{})
	n := rep.Count()
	if err == nil || n[sync.Failed] != 1 || n[sync.NotAttempted] != replaces-1 {
		t.Errorf("staged replacements: %v; %d failed, %d not attempted, want 1 and %d", err, n[sync.Failed], n[sync.NotAttempted], replaces-1)
	}
	after := e.live(statefulSet)
	untouched := 0
	for name, rv := range before {
		if after[name] == rv {
			untouched++
		}
	}
	if untouched != replaces-1 {
		t.Errorf("%d of %d StatefulSets untouched after the first replacement failed, want %d", untouched, replaces, replaces-1)
	}
}
