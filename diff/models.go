package diff

import (
	"maps"
	"slices"
	"sort"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
	"modelsync.dev/modelsync/workload"
)

// A reviewer thinks in models and GPUs: the plan starts with the Models it
// touches (their generated objects carry model.LabelModel), each with the
// GPUs its workloads request before and after, and the namespace's GPU
// totals per resource.

// ModelChange is one Model the plan touches.
type ModelChange struct {
	Name string `json:"name"`
	// Change is what happens to the Model: added, changed, removed or
	// replaced.
	Change ModelVerdict `json:"change"`
	// What says what a change changes: image, engine flags, hardware,
	// probes, replicas, routing.
	What []string `json:"what,omitempty"`
	// GPUsBefore and GPUsAfter are the GPUs its workloads request, by
	// resource name, times replicas (and group size).
	GPUsBefore map[string]int64 `json:"gpusBefore,omitempty"`
	GPUsAfter  map[string]int64 `json:"gpusAfter,omitempty"`
	// Memory its pods request and Storage its claim templates ask for, in
	// all replicas, before and after ("" for none).
	MemoryBefore  string `json:"memoryBefore,omitempty"`
	MemoryAfter   string `json:"memoryAfter,omitempty"`
	StorageBefore string `json:"storageBefore,omitempty"`
	StorageAfter  string `json:"storageAfter,omitempty"`
	// SurgeStorage is what the claims of its surge copies ask for while
	// they run, beside StorageAfter ("" when nothing surges).
	SurgeStorage string `json:"surgeStorage,omitempty"`
	// Objects are its changes, "action Kind name".
	Objects []string `json:"objects"`
	// Start says, per variant, whether vLLM would start it, from the
	// model's own files (modelsync.lock); empty for a Model without them.
	Start []string `json:"start,omitempty"`
	// Capacity says, per workload the plan creates or changes, whether its
	// pods can be placed on the cluster now (capacity.Verdict).
	Capacity []string `json:"capacity,omitempty"`
	// Restart says what an update that restarts the model's pods costs it
	// while it runs (restartCost): down, or serving on fewer replicas.
	Restart []string `json:"restart,omitempty"`
	// Update is how an update that restarts its pods runs (UpdateMode):
	// surge, roll or recreate; empty when no pod restarts.
	Update UpdateMode `json:"update,omitempty"`
	// Fits is whether every pod of its created or changed workloads can be
	// placed now; absent when capacity was not checked.
	Fits *bool `json:"fits,omitempty"`
}

// GPUTotal is what the namespace's workloads request of one GPU resource.
type GPUTotal struct {
	Resource string `json:"resource"`
	Before   int64  `json:"before"`
	After    int64  `json:"after"`
	// Free is what the cluster's nodes have left of it now, when the plan
	// identity may list nodes and pods.
	Free *int64 `json:"free,omitempty"`
}

// modelChanges groups the plan's changes by Model and totals the GPUs.
func modelChanges(preds []Prediction, members []unstructured.Unstructured) ([]ModelChange, []GPUTotal, []string) {
	desired := map[manifest.ID]bool{}
	for _, p := range preds {
		desired[p.Object.ID()] = true
	}
	var pruned []*unstructured.Unstructured
	for i := range members {
		if !desired[manifest.IDOf(&members[i])] {
			pruned = append(pruned, &members[i])
		}
	}
	t := newTally()
	// Which Models the plan touches, and how.
	for _, p := range preds {
		if p.Change.Action == Unchanged {
			continue
		}
		m := t.touch(p.Object.GetLabels()[model.LabelModel], p.Change.Action, p.Change.Kind, p.Change.Name)
		if m != nil && (p.Change.Action == Update || p.Change.Action == Conflict || p.Change.Action == Replace || p.Change.Action == Recreate) {
			for _, w := range whatChanged(p) {
				if !slices.Contains(m.What, w) {
					m.What = append(m.What, w)
				}
			}
		}
	}
	for _, u := range pruned {
		t.touch(u.GetLabels()[model.LabelModel], Prune, u.GetKind(), u.GetName())
	}
	// The GPUs their workloads request before (live) and after (applied),
	// and the namespace's totals; their memory and storage.
	for _, p := range preds {
		switch {
		case p.Recorded:
			// Applied's fixed point, whose Live may hold only metadata.
			t.count(withReplicas(p.Applied, p.Live), sideBefore|sideAfter)
		case p.Applied != nil:
			t.count(p.Live, sideBefore)
			t.count(withReplicas(p.Applied, p.Predicted), sideAfter)
		default:
			t.count(p.Live, sideBefore)
			if p.Change.Action != Error {
				t.count(p.Object.Unstructured, sideAfter)
			}
		}
	}
	for _, u := range pruned {
		t.count(u, sideBefore)
	}
	return t.results()
}

// The sides of a plan a workload is counted on.
const sideBefore, sideAfter = 1, 2

// tally adds up, per Model and for the namespace, what the plan touches and
// what its workloads request.
type tally struct {
	byName  map[string]*ModelChange
	actions map[string][]Action
	unowned []string
	totals  map[string]*GPUTotal
	sizes   map[string]*[4]resource.Quantity // memory before, after, storage before, after
}

func newTally() *tally {
	return &tally{byName: map[string]*ModelChange{}, actions: map[string][]Action{}, totals: map[string]*GPUTotal{}, sizes: map[string]*[4]resource.Quantity{}}
}

// touch records that the plan does a to kind/obj of the Model named name
// (an object of no Model when name is ""), and returns that Model's entry.
func (t *tally) touch(name string, a Action, kind, obj string) *ModelChange {
	if name == "" {
		t.unowned = append(t.unowned, string(a)+" "+kind+" "+obj)
		return nil
	}
	if t.byName[name] == nil {
		t.byName[name] = &ModelChange{Name: name, GPUsBefore: map[string]int64{}, GPUsAfter: map[string]int64{}}
	}
	t.byName[name].Objects = append(t.byName[name].Objects, string(a)+" "+kind+" "+obj)
	t.actions[name] = append(t.actions[name], a)
	return t.byName[name]
}

// count adds what workload u requests to the sides given, for its Model
// (when the plan touches it) and for the namespace.
func (t *tally) count(u *unstructured.Unstructured, sides int) {
	if u == nil {
		return
	}
	name := u.GetLabels()[model.LabelModel]
	m := t.byName[name]
	if m != nil {
		if t.sizes[name] == nil {
			t.sizes[name] = &[4]resource.Quantity{}
		}
		mem, storage := workload.Sizes(u)
		for i, side := range []int{sideBefore, sideAfter} {
			if sides&side != 0 {
				t.sizes[name][i].Add(mem)
				t.sizes[name][i+2].Add(storage)
			}
		}
	}
	for res, n := range workload.GPUs(u) {
		if t.totals[res] == nil {
			t.totals[res] = &GPUTotal{Resource: res}
		}
		if sides&sideBefore != 0 {
			t.totals[res].Before += n
			if m != nil {
				m.GPUsBefore[res] += n
			}
		}
		if sides&sideAfter != 0 {
			t.totals[res].After += n
			if m != nil {
				m.GPUsAfter[res] += n
			}
		}
	}
}

// results are the Models (by name) with their verdicts and sizes, the
// namespace's GPU totals (by resource), and the objects of no Model.
func (t *tally) results() ([]ModelChange, []GPUTotal, []string) {
	var out []ModelChange
	for name, m := range t.byName {
		m.Change = modelVerdict(t.actions[name])
		if q := t.sizes[name]; q != nil {
			m.MemoryBefore, m.MemoryAfter, m.StorageBefore, m.StorageAfter = size(q[0]), size(q[1]), size(q[2]), size(q[3])
		}
		sort.Strings(m.Objects)
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	var gpus []GPUTotal
	for _, g := range t.totals {
		gpus = append(gpus, *g)
	}
	sort.Slice(gpus, func(i, j int) bool { return gpus[i].Resource < gpus[j].Resource })
	return out, gpus, t.unowned
}

// ModelVerdict is what happens to a Model.
type ModelVerdict string

const (
	ModelAdded    ModelVerdict = "added"
	ModelChanged  ModelVerdict = "changed"
	ModelRemoved  ModelVerdict = "removed"
	ModelReplaced ModelVerdict = "replaced"
)

// modelVerdict names what happens to a Model from what happens to its
// objects.
func modelVerdict(actions []Action) ModelVerdict {
	all := func(a Action) bool { return !slices.ContainsFunc(actions, func(x Action) bool { return x != a }) }
	switch {
	case all(Create):
		return ModelAdded
	case all(Prune):
		return ModelRemoved
	case slices.Contains(actions, Replace):
		return ModelReplaced
	}
	return ModelChanged
}

// withReplicas is applied, a configuration that leaves spec.replicas to an
// autoscaler (workload.LeaveReplicas), with the count of the object it
// predicts or matches, so a model's GPUs count every replica the
// autoscaler runs; applied itself when it sets the count or from has none.
func withReplicas(applied, from *unstructured.Unstructured) *unstructured.Unstructured {
	if applied == nil || from == nil {
		return applied
	}
	if _, set, _ := unstructured.NestedFieldNoCopy(applied.Object, "spec", "replicas"); set {
		return applied
	}
	n, ok, _ := unstructured.NestedFieldNoCopy(from.Object, "spec", "replicas")
	if !ok {
		return applied
	}
	out := &unstructured.Unstructured{Object: maps.Clone(applied.Object)}
	spec, _ := out.Object["spec"].(map[string]any)
	spec = maps.Clone(spec)
	if spec == nil {
		spec = map[string]any{}
	}
	spec["replicas"] = n
	out.Object["spec"] = spec
	return out
}

// size writes a quantity for the plan, "-" for none.
func size(q resource.Quantity) string {
	if q.IsZero() {
		return "-"
	}
	return q.String()
}
