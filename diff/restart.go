package diff

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
	"modelsync.dev/modelsync/workload"
)

// restartCost says what an update of a workload costs the model it serves
// when it changes a pod template, so that the reviewer sees it before the
// merge: the workload's controller replaces the pods in place, so a model
// with one replica is down from the moment its pod is deleted until the new
// one passes its startup probe (the weights load: minutes to an hour and
// more), and stays down if the new revision never starts. "" when no pod
// restarts.
func restartCost(p Prediction) string {
	restarts := restarting(p)
	if len(restarts) == 0 {
		return ""
	}
	replicas := workload.Count(p.Live.Object, 1, "spec", "replicas")
	budget := startupBudget(p.Predicted, restarts[0])
	within := ""
	if budget > 0 {
		within = fmt.Sprintf(" for up to %s (its startup probe's budget)", strings.TrimSuffix(budget.String(), "0s"))
	}
	what, unit := p.Change.Kind+" "+p.Change.Name, "replica"
	if p.Change.Kind == workload.LeaderWorkerSet.Kind {
		unit = "group" // a LeaderWorkerSet's replica: a leader and its workers
	}
	if p.Surge {
		return fmt.Sprintf("no downtime (surge): a copy of %s with the new pod template starts beside it (its GPUs are free now) and serves beside it once ready; then %s is updated in place and the copy removed. "+
			"If the copy does not start%s, it is removed and the old revision keeps serving", what, p.Change.Name, within)
	}
	if replicas <= 1 {
		down := fmt.Sprintf("DOWN while it restarts: %s replaces its only %s in place%s, and stays down if the new revision never starts", what, unit, within)
		if p.Change.Action == Recreate {
			down += "; approval required: sync leaves it and the approved prune job applies it"
		}
		return down
	}
	return fmt.Sprintf("restarts one %s at a time: %d of %d keep serving while %s replaces each%s", unit, replicas-1, replicas, what, within)
}

// startupBudget is how long the startup probe of t's first container
// allows before the kubelet gives up: initial delay + failures × period.
func startupBudget(u *unstructured.Unstructured, t workload.Template) time.Duration {
	containers, _, _ := unstructured.NestedSlice(u.Object, append(t.SpecPath(), "containers")...)
	if len(containers) == 0 {
		return 0
	}
	c, _ := containers[0].(map[string]any)
	probe, ok := c["startupProbe"].(map[string]any)
	if !ok {
		return 0
	}
	n := func(key string, def int64) int64 {
		switch v := probe[key].(type) {
		case int64:
			return v
		case float64:
			return int64(v)
		}
		return def
	}
	return time.Duration(n("initialDelaySeconds", 0)+n("failureThreshold", 3)*n("periodSeconds", 10)) * time.Second
}

// restarting are the pod templates of p's workload that its update
// changes: their pods are replaced. None for anything but an update of a
// live workload.
func restarting(p Prediction) []workload.Template {
	if p.Live == nil || p.Predicted == nil || (p.Change.Action != Update && p.Change.Action != Conflict && p.Change.Action != Recreate) {
		return nil
	}
	var out []workload.Template
	for _, t := range workload.Templates(p.Live) {
		if changedAt(p.Live, p.Predicted, t.Path, [][]string{{}}) {
			out = append(out, t)
		}
	}
	return out
}

// surgeable is an update sync can bring up beside the serving pods first: a
// StatefulSet or LeaderWorkerSet that serves now (replicas ≥ 1) whose pod
// templates change. Deployments (the endpoint picker) roll as their
// controller does.
func surgeable(p Prediction) bool {
	return (p.Change.Kind == "StatefulSet" || p.Change.Kind == workload.LeaderWorkerSet.Kind) &&
		len(restarting(p)) > 0 && workload.Count(p.Live.Object, 1, "spec", "replicas") >= 1
}

// gateDowntime puts behind the prune job's approval every update that takes
// a serving model down: a workload with one replica whose pod template
// changes and that cannot surge (no room for a copy, capacity not checked,
// or a kind sync does not surge). The change becomes a Recreate, bound like
// a replace to the live object's uid and content and to the configuration
// approved.
//
// An update to a revision that already failed to start is Held instead,
// unless retry.
func gateDowntime(preds []Prediction, plan *Plan, noRoom map[manifest.ID]string, retry bool) {
	gated := map[manifest.ID]Change{}
	for i := range preds {
		p := &preds[i]
		if len(restarting(*p)) == 0 {
			continue
		}
		if failed := p.Live.GetAnnotations()[inventory.AnnotationFailedRevision]; failed != "" && failed == TemplateDigest(p.Applied) && !retry {
			p.Surge, p.Change.Action = false, Held
			p.Change.Message = fmt.Sprintf("held at its old revision: this revision (%s) already failed to start (%s); the old revision keeps serving. Change the Model, or run sync --retry-failed",
				failed, p.Live.GetAnnotations()[inventory.AnnotationFailedReason])
			gated[p.Object.ID()] = p.Change
			continue
		}
		if p.Surge {
			continue
		}
		if forcedUpdate(p.Applied) == model.UpdateSurge && surgeable(*p) {
			if why, ok := noRoom[p.Object.ID()]; ok {
				*p = refused(*p, fmt.Sprintf("spec.update is surge, but a copy of %s %s beside it %s; free the GPUs, or set update: auto to let the update wait for approval", p.Change.Kind, p.Change.Name, why))
				gated[p.Object.ID()] = p.Change
			} else {
				p.Surge = true // forced, without capacity to check
			}
			continue
		}
		if workload.Count(p.Live.Object, 1, "spec", "replicas") != 1 || !serving(p.Live) {
			continue
		}
		live := p.Live
		p.Change.Action = Recreate
		p.Change.UID, p.Change.ResourceVersion = string(live.GetUID()), live.GetResourceVersion()
		p.Change.Digest = RecreateDigest(live, p.Applied)
		what := "pod"
		if live.GetKind() == workload.LeaderWorkerSet.Kind {
			what = "group"
		}
		p.Change.Message = strings.TrimPrefix(p.Change.Message+"; restarts the model's only serving "+what+" in place (no room for a copy beside it): sync leaves it, the approved prune job applies it", "; ")
		gated[p.Object.ID()] = p.Change
	}
	for i, c := range plan.Changes {
		if g, ok := gated[c.ID()]; ok && (c.Action == Update || c.Action == Conflict) && c.Kind == g.Kind {
			g.Model = c.Model
			plan.Changes[i] = g
		}
	}
	for i := range plan.Models {
		for j, o := range plan.Models[i].Objects {
			action, obj, _ := strings.Cut(o, " ")
			kind, name, _ := strings.Cut(obj, " ")
			for id := range gated {
				if (action == string(Update) || action == string(Conflict)) && id.Kind == kind && id.Name == name {
					plan.Models[i].Objects[j] = string(Recreate) + " " + obj
				}
			}
		}
	}
}

// RecreateDigest binds an approved recreate to the live object's content
// (without status) and to the configuration it applies.
func RecreateDigest(live, applied *unstructured.Unstructured) string {
	return digest([]any{content(live), applied.Object})
}

// UpdateMode is how an update that restarts a model's pods runs.
type UpdateMode string

const (
	// Surge: a copy with the new pod template serves beside the workload
	// while it is updated (Prediction.Surge); no downtime.
	Surge UpdateMode = "surge"
	// Roll: the workload's controller replaces one pod at a time; the
	// other replicas keep serving.
	Roll UpdateMode = "roll"
	// RecreateMode: the only serving pod restarts in place, after approval
	// (a Recreate change); the model is down while it starts.
	RecreateMode UpdateMode = "recreate"
)

// modeOf is how p's update runs; "" when it restarts no pod.
func modeOf(p Prediction) UpdateMode {
	switch {
	case len(restarting(p)) == 0:
		return ""
	case p.Surge:
		return Surge
	case p.Change.Action == Recreate:
		return RecreateMode
	}
	return Roll
}

// costlier orders the modes by what they cost the model.
var costlier = map[UpdateMode]int{"": 0, Surge: 1, Roll: 2, RecreateMode: 3}

// restartLines are each model's restart costs (restartCost) and the mode of
// its costliest workload update, once the plan knows which updates surge and
// which wait for approval.
func restartLines(preds []Prediction, plan *Plan) {
	lines := map[string][]string{}
	modes := map[string]UpdateMode{}
	copies := map[string]int64{}
	for _, p := range preds {
		name := p.Object.GetLabels()[model.LabelModel]
		if cost := restartCost(p); cost != "" {
			lines[name] = append(lines[name], cost)
			switch {
			case p.Room != "" && p.Surge:
				lines[name] = append(lines[name], "the copy needs "+p.Room)
			case p.Room != "":
				lines[name] = append(lines[name], "no surge: a copy would need "+p.Room)
			}
			lines[name] = append(lines[name], rollBack(modeOf(p)))
		}
		if m := modeOf(p); costlier[m] > costlier[modes[name]] {
			modes[name] = m
		}
		if p.Surge {
			_, storage := workload.Sizes(p.Applied)
			copies[name] += storage.Value()
		}
	}
	for i := range plan.Models {
		name := plan.Models[i].Name
		plan.Models[i].Restart = lines[name]
		plan.Models[i].Update = modes[name]
		if copies[name] > 0 {
			plan.Models[i].SurgeStorage = size(*resource.NewQuantity(copies[name], resource.BinarySI))
		}
	}
}

// rollBack says how a reviewer undoes an update that ran in mode m.
func rollBack(m UpdateMode) string {
	switch m {
	case Surge:
		return "to roll back: revert the merge request; the revert surges the same way, the new revision serving until the old one is ready again"
	case Roll:
		return "to roll back: revert the merge request; the revert rolls back one pod at a time"
	}
	return "to roll back: revert the merge request; the revert restarts the model in place again and waits for its own approval"
}

// forcedUpdate is how the Model of workload u forces its updates to run
// (model.AnnotationUpdate): surge, recreate, or "" for the plan's choice.
func forcedUpdate(u *unstructured.Unstructured) string {
	if u == nil {
		return ""
	}
	return u.GetAnnotations()[model.AnnotationUpdate]
}

// TemplateDigest names a workload's pod templates: the revision a surge
// brings up, and the one a failed start is recorded as.
func TemplateDigest(u *unstructured.Unstructured) string {
	var tmpls []any
	for _, t := range workload.Templates(u) {
		v, _, _ := unstructured.NestedFieldNoCopy(u.Object, t.Path...)
		tmpls = append(tmpls, v)
	}
	return digest(tmpls)[:12]
}

// serving is whether a workload has a ready replica now: an update of one
// that does not (its revision never started) takes nothing down.
func serving(u *unstructured.Unstructured) bool {
	ready, found, _ := unstructured.NestedFieldNoCopy(u.Object, "status", "readyReplicas")
	n, ok := workload.CountOf(ready)
	return !found || !ok || n > 0
}
