package diff_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/manifest"
)

// The record never hides a change: whatever others write between a sync and
// a plan, the plan that trusts the record (members it vouches for read by
// their metadata only) shows exactly what the plan that dry-runs every
// object shows. Seeded sequences of the writes a cluster sees: controllers'
// status, hand edits, labels removed, ownership taken, objects recreated,
// syncs in between.
func TestRecordedPlanIsTheFullPlan(t *testing.T) {
	e := newEnv(t)
	files := tree(t)
	e.sync(files, false)
	full := diff.DefaultOptions()
	full.Full = true
	// The trusted plan is made as the CLI makes it on odd seeds: Start
	// reads the parent and lists the recorded kinds while the tree loads.
	plans := func(seed int) (trusted, all *diff.Result) {
		if seed%2 == 0 {
			trusted, _ = e.Plan(files)
		} else {
			trusted = e.startedPlan(files)
		}
		all, _ = e.PlanWith(files, full)
		return trusted, all
	}
	shown := func(res *diff.Result) []string {
		var out []string
		for _, c := range res.Plan.Changes {
			out = append(out, fmt.Sprintf("%s %s %s\n%s", c.Action, c.Kind, c.Name, c.Diff))
		}
		return out
	}
	res, _ := e.Plan(files)
	if res.Whole() || res.Plan.Verified == 0 {
		t.Fatalf("after a sync, %d members vouched for and whole members %v: the stamps are not used", res.Plan.Verified, res.Whole())
	}
	writes := []struct {
		name  string
		write func(rng *rand.Rand, u *unstructured.Unstructured) error
	}{
		{"status", func(_ *rand.Rand, u *unstructured.Unstructured) error {
			if u.GetKind() != "StatefulSet" {
				return nil
			}
			u.Object["status"] = map[string]any{"observedGeneration": u.GetGeneration(), "replicas": int64(1), "readyReplicas": int64(1), "currentRevision": "r1", "updateRevision": "r1"}
			_, err := e.resource(u).UpdateStatus(t.Context(), u, metav1.UpdateOptions{FieldManager: "statefulset-controller"})
			return err
		}},
		{"annotate", func(rng *rand.Rand, u *unstructured.Unstructured) error {
			return e.patch(u, types.MergePatchType, fmt.Sprintf(`{"metadata":{"annotations":{"hand":"%d"}}}`, rng.IntN(3)), "kubectl-annotate")
		}},
		{"unlabel", func(_ *rand.Rand, u *unstructured.Unstructured) error {
			return e.patch(u, types.JSONPatchType, `[{"op":"remove","path":"/metadata/labels/`+escape(inventory.LabelPartOf)+`"}]`, "kubectl-label")
		}},
		{"take", func(_ *rand.Rand, u *unstructured.Unstructured) error {
			cfg := fmt.Sprintf(`{"apiVersion":%q,"kind":%q,"metadata":{"name":%q,"labels":%s}}`, u.GetAPIVersion(), u.GetKind(), u.GetName(), jsonOf(u.GetLabels()))
			force := true
			_, err := e.resource(u).Patch(t.Context(), u.GetName(), types.ApplyPatchType, []byte(cfg), metav1.PatchOptions{FieldManager: "another-tool", Force: &force})
			return err
		}},
		{"recreate", func(_ *rand.Rand, u *unstructured.Unstructured) error {
			if err := e.resource(u).Delete(t.Context(), u.GetName(), metav1.DeleteOptions{}); err != nil {
				return err
			}
			fresh := &unstructured.Unstructured{Object: map[string]any{"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(), "metadata": map[string]any{"name": u.GetName(), "labels": toAny(u.GetLabels())}}}
			for k, v := range u.Object {
				if k != "metadata" && k != "status" && k != "apiVersion" && k != "kind" {
					fresh.Object[k] = v
				}
			}
			_, err := e.resource(u).Create(t.Context(), fresh, metav1.CreateOptions{FieldManager: "kubectl-create"})
			return err
		}},
	}
	for seed := range 24 {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		var done []string
		for range 1 + rng.IntN(3) {
			all, _ := e.PlanWith(files, full)
			members := all.Members
			u := members[rng.IntN(len(members))].DeepCopy()
			if u.GetKind() == "Secret" {
				continue
			}
			w := writes[rng.IntN(len(writes))]
			if err := w.write(rng, u); err != nil {
				t.Fatalf("seed %d: %s %s %s: %v", seed, w.name, u.GetKind(), u.GetName(), err)
			}
			done = append(done, w.name+" "+u.GetKind()+" "+u.GetName())
		}
		trusted, all := plans(seed)
		if d := cmp.Diff(shown(all), shown(trusted)); d != "" {
			t.Errorf("seed %d, after %v: the plan trusting the record differs from the full plan (-full +trusted):\n%s", seed, done, d)
		}
		if rng.IntN(2) == 0 {
			e.sync(files, true)
		}
	}
}

func (e *env) resource(u *unstructured.Unstructured) dynamic.ResourceInterface {
	e.T.Helper()
	r, err := e.C.Resource(u.GroupVersionKind(), e.NS)
	if err != nil {
		e.T.Fatal(err)
	}
	return r
}

func (e *env) patch(u *unstructured.Unstructured, pt types.PatchType, data, manager string) error {
	_, err := e.resource(u).Patch(e.T.Context(), u.GetName(), pt, []byte(data), metav1.PatchOptions{FieldManager: manager})
	return err
}

// escape is a JSON pointer's reference token for key.
func escape(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}

func jsonOf(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}

func toAny(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// startedPlan plans files as the CLI does: Start first, then the tree.
func (e *env) startedPlan(files fstest.MapFS) *diff.Result {
	e.T.Helper()
	d := diff.New(e.C.Reader(), e.NS, diff.DefaultOptions())
	d.Start(e.T.Context())
	defer d.Stop()
	set, err := desired.Load(e.T.Context(), manifest.Tree{FS: files, Root: "models-config"}, desired.Options{Namespace: e.NS})
	if err != nil || set.HasErrors() {
		e.T.Fatalf("load: %v %v", err, set.Diagnostics)
	}
	res, err := d.Plan(e.T.Context(), set)
	if err != nil {
		e.T.Fatal(err)
	}
	return res
}

// What Start lists before the tree is loaded is in the server's preferred
// version; a kind the tree writes in another is listed again in that one,
// so its deprecation is still heard and its members still vouched for.
func TestStartedPlanListsTheTreesVersion(t *testing.T) {
	e := newEnv(t)
	files := deprecatedTree()
	e.sync(files, false)
	res := e.startedPlan(files)
	if res.Plan.HasChanges() || res.Plan.Verified != 2 {
		t.Errorf("started plan after sync: %d verified, dry-ran %v, changes %v", res.Plan.Verified, dryRun(res), summary(res.Plan))
	}
	if w := strings.Join(res.Plan.Warnings, "\n"); !strings.Contains(w, "aigateway.envoyproxy.io/v1alpha1") || !strings.Contains(w, "deprecated") {
		t.Errorf("no deprecation warning from a started plan: %q", res.Plan.Warnings)
	}
}

// A tree of many new objects is not read object by object to see whether
// each exists outside the set: their kind is listed once. Those that exist
// are still found, and are adopted, not created.
func TestManyCreatesListTheirKindOnce(t *testing.T) {
	e := newEnv(t)
	var docs []string
	for i := range 20 {
		docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  k: v%d\n", i, i))
	}
	files := fstest.MapFS{"models-config/cm.yaml": &fstest.MapFile{Data: []byte(strings.Join(docs, "---\n"))}}
	for _, name := range []string{"cm-3", "cm-17"} {
		cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": name}, "data": map[string]any{"k": "by hand"}}}
		if _, err := e.resource(cm).Create(t.Context(), cm, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
			t.Fatal(err)
		}
	}
	res, _ := e.Plan(files)
	var adopt, create int
	for _, c := range res.Plan.Changes {
		switch {
		case c.Action == diff.Adopt && (c.Name == "cm-3" || c.Name == "cm-17"):
			adopt++
		case c.Action == diff.Create:
			create++
		default:
			t.Errorf("unexpected %s", c.Line())
		}
	}
	if adopt != 2 || create != 18 {
		t.Errorf("%d adopted, %d created; want the 2 made by hand adopted and 18 created", adopt, create)
	}
	// The parent, the members, the kind, a dry run each, and a read of the
	// two that exist: not one read per object on top of its dry run.
	if res.Plan.Requests >= 40 {
		t.Errorf("20 new objects took %d requests, one more per object than their dry runs", res.Plan.Requests)
	}
}
