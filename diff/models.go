package diff

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/manifest"
	"modelsync.dev/modelsync/model"
	"modelsync.dev/modelsync/workload"
)

// A reviewer thinks in models and GPUs: the plan starts with the Models it
// touches (their generated objects carry model.LabelModel), each with the
// GPUs its workloads request before and after, and the namespace's GPU
// totals per resource.

// ModelChange is one Model the plan touches.
type ModelChange struct {
	Name string `json:"name"`
	// Change is added, changed, removed or replaced.
	Change string `json:"change"`
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
	// Objects are its changes, "action Kind name".
	Objects []string `json:"objects"`
	// Start says, per variant, whether vLLM would start it, from the
	// model's own files (modelsync.lock); empty for a Model without them.
	Start []string `json:"start,omitempty"`
	// Capacity says, per workload the plan creates or changes, whether its
	// pods can be placed on the cluster now (capacity.Verdict).
	Capacity []string `json:"capacity,omitempty"`
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
	desired := map[string]bool{}
	for _, p := range preds {
		desired[idString(p.Object.Unstructured)] = true
	}
	var pruned []*unstructured.Unstructured
	for i := range members {
		if !desired[idString(&members[i])] {
			pruned = append(pruned, &members[i])
		}
	}
	// Which Models the plan touches, and how.
	byName := map[string]*ModelChange{}
	actions := map[string][]Action{}
	var unowned []string
	touch := func(name string, a Action, kind, obj string) {
		if name == "" {
			unowned = append(unowned, string(a)+" "+kind+" "+obj)
			return
		}
		if byName[name] == nil {
			byName[name] = &ModelChange{Name: name, GPUsBefore: map[string]int64{}, GPUsAfter: map[string]int64{}}
		}
		byName[name].Objects = append(byName[name].Objects, string(a)+" "+kind+" "+obj)
		actions[name] = append(actions[name], a)
	}
	for _, p := range preds {
		if p.Change.Action != Unchanged {
			name := p.Object.GetLabels()[model.LabelModel]
			touch(name, p.Change.Action, p.Change.Kind, p.Change.Name)
			if m := byName[name]; m != nil && (p.Change.Action == Update || p.Change.Action == Conflict || p.Change.Action == Replace) {
				for _, w := range whatChanged(p) {
					if !slices.Contains(m.What, w) {
						m.What = append(m.What, w)
					}
				}
			}
		}
	}
	for _, u := range pruned {
		touch(u.GetLabels()[model.LabelModel], Prune, u.GetKind(), u.GetName())
	}
	// The GPUs their workloads request before (live) and after (applied),
	// and the namespace's totals; their memory and storage.
	totals := map[string]*GPUTotal{}
	sizes := map[string]*[4]resource.Quantity{} // memory before, after, storage before, after
	count := func(u *unstructured.Unstructured, after bool) {
		if u == nil {
			return
		}
		name := u.GetLabels()[model.LabelModel]
		m := byName[name]
		if m != nil {
			if sizes[name] == nil {
				sizes[name] = &[4]resource.Quantity{}
			}
			mem, storage := workloadSizes(u)
			i := 0
			if after {
				i = 1
			}
			sizes[name][i].Add(mem)
			sizes[name][i+2].Add(storage)
		}
		for res, n := range workloadGPUs(u) {
			if totals[res] == nil {
				totals[res] = &GPUTotal{Resource: res}
			}
			switch {
			case after:
				totals[res].After += n
			default:
				totals[res].Before += n
			}
			if m != nil && after {
				m.GPUsAfter[res] += n
			} else if m != nil {
				m.GPUsBefore[res] += n
			}
		}
	}
	for _, p := range preds {
		count(p.Live, false)
		if p.Applied != nil {
			count(p.Applied, true)
		} else if p.Change.Action != Error {
			count(p.Object.Unstructured, true)
		}
	}
	for _, u := range pruned {
		count(u, false)
	}
	var out []ModelChange
	for name, m := range byName {
		m.Change = modelVerdict(actions[name])
		if q := sizes[name]; q != nil {
			m.MemoryBefore, m.MemoryAfter, m.StorageBefore, m.StorageAfter = size(q[0]), size(q[1]), size(q[2]), size(q[3])
		}
		sort.Strings(m.Objects)
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	var gpus []GPUTotal
	for _, t := range totals {
		gpus = append(gpus, *t)
	}
	sort.Slice(gpus, func(i, j int) bool { return gpus[i].Resource < gpus[j].Resource })
	return out, gpus, unowned
}

func idString(u *unstructured.Unstructured) string {
	return manifest.IDOf(u).String()
}

// modelVerdict names what happens to a Model from what happens to its
// objects.
func modelVerdict(actions []Action) string {
	all := func(a Action) bool { return !slices.ContainsFunc(actions, func(x Action) bool { return x != a }) }
	switch {
	case all(Create):
		return "added"
	case all(Prune):
		return "removed"
	case slices.Contains(actions, Replace):
		return "replaced"
	}
	return "changed"
}

// GPUKey names a GPU resource as a reviewer counts it: the resource, and
// the products its pods are restricted to (nvidia.com/gpu.product), so that
// H100s and H200s behind one nvidia.com/gpu are told apart.
func GPUKey(resource string, products []string) string {
	if len(products) == 0 {
		return resource
	}
	return resource + " (" + strings.Join(products, "|") + ")"
}

// SplitGPUKey is GPUKey's inverse.
func SplitGPUKey(key string) (string, []string) {
	resource, rest, ok := strings.Cut(key, " (")
	if !ok {
		return key, nil
	}
	return resource, strings.Split(strings.TrimSuffix(rest, ")"), "|")
}

// gpuProducts are the GPU products a pod spec's required node affinity
// admits (nvidia.com/gpu.product In …), sorted; none means any.
func gpuProducts(obj map[string]any, spec []string) []string {
	terms, _, _ := unstructured.NestedSlice(obj, append(slices.Clone(spec), "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")...)
	var out []string
	for _, t := range terms {
		exprs, _, _ := unstructured.NestedSlice(t.(map[string]any), "matchExpressions")
		for _, e := range exprs {
			em, _ := e.(map[string]any)
			if em["key"] != model.NodeGPUProduct || em["operator"] != "In" {
				continue
			}
			values, _, _ := unstructured.NestedStringSlice(em, "values")
			out = append(out, values...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// workloadGPUs is what a workload requests of GPU resources (nvidia.com/…,
// */gpu) in all its pods: per pod times replicas, times the group size of a
// LeaderWorkerSet. Not a workload: nil.
func workloadGPUs(u *unstructured.Unstructured) map[string]int64 {
	templates := workload.Templates(u)
	if len(templates) == 0 {
		return nil
	}
	out := map[string]int64{}
	for _, t := range templates {
		path := t.SpecPath()
		products := gpuProducts(u.Object, path)
		containers, _, _ := unstructured.NestedSlice(u.Object, append(slices.Clone(path), "containers")...)
		for _, c := range containers {
			cm, _ := c.(map[string]any)
			for _, field := range []string{"limits", "requests"} {
				res, _, _ := unstructured.NestedMap(cm, "resources", field)
				for name, v := range res {
					if !isGPU(name) {
						continue
					}
					count, _ := workload.CountOf(v)
					if field == "requests" {
						if _, inLimits, _ := unstructured.NestedFieldNoCopy(cm, "resources", "limits", name); inLimits {
							continue // counted from limits
						}
					}
					out[GPUKey(name, products)] += count * t.Pods
				}
			}
		}
	}
	return out
}

// workloadSizes is the memory a workload's pods request and the storage its
// claim templates ask for, in all replicas (and, for a LeaderWorkerSet, its
// workers); zero for what is not a StatefulSet, Deployment or
// LeaderWorkerSet.
func workloadSizes(u *unstructured.Unstructured) (memory, storage resource.Quantity) {
	templates := workload.Templates(u)
	if len(templates) == 0 {
		return memory, storage
	}
	replicas := workload.Count(u.Object, 1, "spec", "replicas")
	var mem, disk int64
	for _, t := range templates {
		containers, _, _ := unstructured.NestedSlice(u.Object, append(t.SpecPath(), "containers")...)
		for _, c := range containers {
			cm, _ := c.(map[string]any)
			if v, ok, _ := unstructured.NestedString(cm, "resources", "requests", "memory"); ok {
				if q, err := resource.ParseQuantity(v); err == nil {
					mem += q.Value() * t.Pods
				}
			}
		}
	}
	claims, _, _ := unstructured.NestedSlice(u.Object, "spec", "volumeClaimTemplates")
	for _, c := range claims {
		cm, _ := c.(map[string]any)
		if v, ok, _ := unstructured.NestedString(cm, "spec", "resources", "requests", "storage"); ok {
			if q, err := resource.ParseQuantity(v); err == nil {
				disk += q.Value() * replicas
			}
		}
	}
	return *resource.NewQuantity(mem, resource.BinarySI), *resource.NewQuantity(disk, resource.BinarySI)
}

// size writes a quantity for the plan, "-" for none.
func size(q resource.Quantity) string {
	if q.IsZero() {
		return "-"
	}
	return q.String()
}

func isGPU(resource string) bool {
	return strings.HasPrefix(resource, "nvidia.com/") || strings.HasSuffix(resource, "/gpu")
}

// gpuCounts writes GPUs as "4 nvidia.com/a100", "-" for none.
func gpuCounts(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		if m[k] != 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// modelsText is the models table of a text plan, and the GPU totals.
func (p *Plan) modelsText() string {
	if len(p.Models) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("Models:\n")
	for _, m := range p.Models {
		fmt.Fprintf(&b, "  %-9s %s%s  GPUs %s → %s, memory %s → %s, storage %s → %s\n", m.Change, m.Name, whatText(m.What), gpuCounts(m.GPUsBefore), gpuCounts(m.GPUsAfter),
			orDash(m.MemoryBefore), orDash(m.MemoryAfter), orDash(m.StorageBefore), orDash(m.StorageAfter))
		for _, c := range slices.Concat(m.Start, m.Capacity) {
			fmt.Fprintf(&b, "            %s\n", c)
		}
	}
	if len(p.Unowned) > 0 {
		fmt.Fprintf(&b, "  shared or hand-written objects: %s\n", strings.Join(p.Unowned, ", "))
	}
	if p.gpuTotals() != "" {
		b.WriteString("GPUs requested in the namespace:\n")
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  resource\tbefore\tafter\tchange\tfree in the cluster")
		for _, t := range p.GPUs {
			free := "unknown"
			if t.Free != nil {
				free = fmt.Sprint(*t.Free)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%+d\t%s\n", t.Resource, t.Before, t.After, t.After-t.Before, free)
		}
		tw.Flush()
	}
	b.WriteString("\n")
	return b.String()
}

// whatText is " (image, hardware)" for a change that says what it changes.
func whatText(what []string) string {
	if len(what) == 0 {
		return ""
	}
	return " (" + strings.Join(what, ", ") + ")"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// gpuTotals writes "4 → 8 nvidia.com/a100 (+4); …" for the resources the
// plan changes.
func (p *Plan) gpuTotals() string {
	var parts []string
	for _, t := range p.GPUs {
		if t.Before != t.After {
			free := ""
			if t.Free != nil {
				free = fmt.Sprintf("; %d free in the cluster", *t.Free)
			}
			parts = append(parts, fmt.Sprintf("%d → %d %s (%+d%s)", t.Before, t.After, t.Resource, t.After-t.Before, free))
		}
	}
	return strings.Join(parts, "; ")
}

// modelsMarkdown is the models table of the merge request note.
func (p *Plan) modelsMarkdown() string {
	if len(p.Models) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| model | change | GPUs before | GPUs after | memory | storage |\n|---|---|---|---|---|---|\n")
	for _, m := range p.Models {
		fmt.Fprintf(&b, "| %s | %s%s | %s | %s | %s → %s | %s → %s |\n", code(m.Name), m.Change, whatText(m.What), gpuCounts(m.GPUsBefore), gpuCounts(m.GPUsAfter),
			orDash(m.MemoryBefore), orDash(m.MemoryAfter), orDash(m.StorageBefore), orDash(m.StorageAfter))
	}
	if len(p.Unowned) > 0 {
		fmt.Fprintf(&b, "| shared or hand-written objects | %s | | | | |\n", code(strings.Join(p.Unowned, ", ")))
	}
	b.WriteString("\n")
	for _, m := range p.Models {
		for _, c := range slices.Concat(m.Start, m.Capacity) {
			fmt.Fprintf(&b, "- %s: %s\n", code(m.Name), code(c))
		}
	}
	if t := p.gpuTotals(); t != "" {
		fmt.Fprintf(&b, "\nGPUs requested in the namespace: %s\n\n", t)
		b.WriteString(p.gpuChart())
	}
	return b.String()
}

// gpuChart is a Mermaid bar chart (GitLab renders it in the note) of the
// GPUs the namespace requests, per resource, before and after the plan, and
// what the cluster has free when that is known.
func (p *Plan) gpuChart() string {
	var labels, values []string
	top := int64(1)
	for _, t := range p.GPUs {
		if t.Before == t.After {
			continue // the chart shows what the plan moves
		}
		labels = append(labels, fmt.Sprintf("%q, %q", t.Resource+" before", t.Resource+" after"))
		values = append(values, fmt.Sprintf("%d, %d", t.Before, t.After))
		top = max(top, t.Before, t.After)
		if t.Free != nil {
			labels = append(labels, fmt.Sprintf("%q", t.Resource+" free"))
			values = append(values, fmt.Sprint(*t.Free))
			top = max(top, *t.Free)
		}
	}
	return fmt.Sprintf("```mermaid\nxychart-beta\n  title \"GPUs requested in the namespace\"\n  x-axis [%s]\n  y-axis \"GPUs\" 0 --> %d\n  bar [%s]\n```\n\n",
		strings.Join(labels, ", "), top, strings.Join(values, ", "))
}
