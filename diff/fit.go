package diff

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/capacity"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
	"modelsync.dev/modelsync/workload"
)

// snapshotStale is the age past which a capacity snapshot is said to be old.
const snapshotStale = time.Hour

// readCapacity reads the published snapshot when the options name one,
// else lists the nodes and pods itself.
func (d *Differ) readCapacity(ctx context.Context, plan *Plan) (*capacity.Cluster, error) {
	if d.opts.CapacitySnapshot == "" {
		return capacity.Read(ctx, d.r)
	}
	ns, name, _ := strings.Cut(d.opts.CapacitySnapshot, "/")
	s, err := capacity.ReadSnapshot(ctx, d.r, ns, name)
	if err != nil {
		return nil, err
	}
	if age := time.Since(s.Taken.Time); age > snapshotStale {
		plan.Warnings = append(plan.Warnings, fmt.Sprintf("the capacity snapshot %s was taken %s ago: is its publisher running?", d.opts.CapacitySnapshot, age.Round(time.Minute)))
	}
	return s.Cluster(), nil
}

// placeModels says, for each Model whose workloads the plan creates or
// changes and that asks for GPUs, whether its pods can be placed on the
// cluster now: the pods the plan replaces are released first. It reads the
// nodes and pods only when there is such a workload; without permission to
// list them it warns and goes on (capacity is optional).
func (d *Differ) placeModels(ctx context.Context, preds []Prediction, plan *Plan) (noRoom map[manifest.ID]string) {
	var placing []Prediction
	for _, p := range preds {
		switch p.Change.Action {
		case Create, Update, Conflict, Adopt, Replace, Recreate:
		default:
			continue
		}
		if p.Object.GetLabels()[model.LabelModel] != "" && p.Applied != nil && len(workload.GPUs(p.Applied)) > 0 {
			placing = append(placing, p)
		}
	}
	if len(placing) == 0 {
		return
	}
	c, err := d.readCapacity(ctx, plan)
	switch {
	case err != nil:
		plan.CapacityUnchecked = err.Error()
		plan.Warnings = append(plan.Warnings, fmt.Sprintf("capacity not checked: %v (optional: read a snapshot that modelsync capacity publish keeps, with --capacity-from, or list nodes and pods cluster-wide)", err))
		return
	case c.Nodes() == 0:
		return // a control plane without nodes (a test lab): nothing to place on
	}
	for i := range plan.GPUs {
		free := c.Free(workload.SplitGPUKey(plan.GPUs[i].Resource))
		plan.GPUs[i].Free = &free
	}
	noRoom = surgeModels(preds, c.Copy())
	for _, p := range placing {
		if p.Live != nil {
			c.Release(p.Live.GetNamespace(), workload.PodLabels(p.Live))
		}
	}
	verdicts := map[string][]string{}
	fits := map[string]bool{}
	for _, p := range placing {
		v, ok := c.Place(p.Applied)
		if !ok {
			continue
		}
		name := p.Object.GetLabels()[model.LabelModel]
		verdicts[name] = append(verdicts[name], v.String())
		if _, seen := fits[name]; !seen {
			fits[name] = true
		}
		fits[name] = fits[name] && v.Placed == v.Pods
		if v.Placed < v.Pods {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("Model %s (%s %s): %s", name, p.Object.GetKind(), p.Object.GetName(), v))
		}
	}
	for i := range plan.Models {
		name := plan.Models[i].Name
		if vs := verdicts[name]; len(vs) > 0 {
			plan.Models[i].Capacity = vs
			f := fits[name]
			plan.Models[i].Fits = &f
		}
	}
	return noRoom
}

// surgeModels marks the updates whose new pods fit beside everything
// running now (room, placed on in turn): sync brings each up as a copy
// beside the serving workload before it touches it (Prediction.Surge), so
// the model keeps serving. It returns why the others' copies cannot be
// placed. A Model whose spec.update is recreate never surges.
func surgeModels(preds []Prediction, room *capacity.Cluster) map[manifest.ID]string {
	noRoom := map[manifest.ID]string{}
	for i := range preds {
		p := &preds[i]
		if p.Object.GetLabels()[model.LabelModel] == "" || !surgeable(*p) || forcedUpdate(p.Applied) == model.UpdateRecreate {
			continue
		}
		// A copy a sync that did not finish left is what this surge
		// brings up again: its pods' room is this surge's.
		room.Release(p.Object.GetNamespace(), map[string]string{inventory.LabelSurgeOf: SurgeCopyName(p.Object.GetName())})
		p.Room = copyRoom(p.Applied, room)
		switch v, ok := room.Place(p.Applied); {
		case ok && v.Placed == v.Pods:
			p.Surge = true
		case ok:
			noRoom[p.Object.ID()] = v.String()
		}
	}
	return noRoom
}

// copyRoom says what a copy of workload u needs (GPUs, claims) and what the
// cluster has free of those GPUs now.
func copyRoom(u *unstructured.Unstructured, room *capacity.Cluster) string {
	need := workload.GPUs(u)
	var free []string
	for _, key := range slices.Sorted(maps.Keys(need)) {
		free = append(free, fmt.Sprintf("%d %s", room.Free(workload.SplitGPUKey(key)), key))
	}
	claim := ""
	if _, storage := workload.Sizes(u); !storage.IsZero() {
		claim = fmt.Sprintf(" and %s of claims (deleted with the copy)", storage.String())
	}
	return fmt.Sprintf("%s%s; free now: %s", workload.GPUCounts(need), claim, strings.Join(free, ", "))
}

// SurgeCopyName names the copy a surge brings up beside the workload
// named name (sync.Manager.surged).
func SurgeCopyName(name string) string { return name + "-surge" }
