// Package workload is what modelsync knows about the objects that run pods:
// StatefulSets, Deployments and LeaderWorkerSets (and, for readiness, any
// custom resource that reports conditions). Where their pod templates are
// and how many pods each runs, which pods serve, how each reports that it
// is ready or cannot be scheduled, and how long a rollout may take. Sync,
// status, the plan's capacity and its model table all read it from here.
package workload

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// LeaderWorkerSet's API (kubernetes-sigs/lws v0.10.0): one model instance
// over several pods, a leader and its workers.
var LeaderWorkerSet = schema.GroupKind{Group: "leaderworkerset.x-k8s.io", Kind: "LeaderWorkerSet"}

// LWSAPIVersion is the LeaderWorkerSet version modelsync writes.
const LWSAPIVersion = "leaderworkerset.x-k8s.io/v1"

// lwsNameLabel is the label the LeaderWorkerSet controller puts on every
// pod of a set.
const lwsNameLabel = "leaderworkerset.sigs.k8s.io/name"

// Template is one pod template of a workload.
type Template struct {
	// Path is where the template is in the object (spec.template, or a
	// LeaderWorkerSet's leader or worker template).
	Path []string
	// Pods is how many pods run it, over every replica.
	Pods int64
	// Serves: its pods serve the API (every pod, but a LeaderWorkerSet's
	// workers).
	Serves bool
}

// SpecPath is where the template's pod spec is.
func (t Template) SpecPath() []string { return append(slices.Clone(t.Path), "spec") }

// Templates lists u's pod templates: a StatefulSet's or Deployment's, a
// LeaderWorkerSet's leader (one per replica) and workers (size-1 per
// replica), or its workerTemplate alone for all size pods of a replica when
// it has no leaderTemplate. Nothing for what is not a workload.
func Templates(u *unstructured.Unstructured) []Template {
	replicas := Count(u.Object, 1, "spec", "replicas")
	switch u.GetKind() {
	case "StatefulSet", "Deployment":
		return []Template{{Path: []string{"spec", "template"}, Pods: replicas, Serves: true}}
	case LeaderWorkerSet.Kind:
		size := max(Count(u.Object, 1, "spec", "leaderWorkerTemplate", "size"), 1)
		if _, ok, _ := unstructured.NestedMap(u.Object, "spec", "leaderWorkerTemplate", "leaderTemplate"); !ok {
			// Without a leaderTemplate the leader runs the workerTemplate.
			return []Template{{Path: []string{"spec", "leaderWorkerTemplate", "workerTemplate"}, Pods: replicas * size, Serves: true}}
		}
		return []Template{
			{Path: []string{"spec", "leaderWorkerTemplate", "leaderTemplate"}, Pods: replicas, Serves: true},
			{Path: []string{"spec", "leaderWorkerTemplate", "workerTemplate"}, Pods: replicas * (size - 1)},
		}
	}
	return nil
}

// Is reports whether u runs pods from templates.
func Is(u *unstructured.Unstructured) bool { return len(Templates(u)) > 0 }

// Serial is how many of u's pods start one after another: every replica
// of an OrderedReady StatefulSet, else one.
func Serial(u *unstructured.Unstructured) int64 {
	if u.GetKind() != "StatefulSet" {
		return 1
	}
	if policy, _, _ := unstructured.NestedString(u.Object, "spec", "podManagementPolicy"); policy == "Parallel" {
		return 1
	}
	return max(Count(u.Object, 1, "spec", "replicas"), 1)
}

// PodLabels are labels every pod of u carries, to list them by: its
// selector, or the LeaderWorkerSet controller's name label.
func PodLabels(u *unstructured.Unstructured) map[string]string {
	if u.GetKind() == LeaderWorkerSet.Kind {
		return map[string]string{lwsNameLabel: u.GetName()}
	}
	if !Is(u) {
		return nil
	}
	sel, _, _ := unstructured.NestedStringMap(u.Object, "spec", "selector", "matchLabels")
	return sel
}

// ServingLabels are the template labels of the pods that serve (a
// LeaderWorkerSet's leaders), which a Service selects.
func ServingLabels(u *unstructured.Unstructured) (map[string]string, bool) {
	for _, t := range Templates(u) {
		if t.Serves {
			l, ok, _ := unstructured.NestedStringMap(u.Object, append(slices.Clone(t.Path), "metadata", "labels")...)
			return l, ok
		}
	}
	return nil, false
}

// Count reads a count at path (int64 from the API server, float64 from
// YAML, digits in a string), def when it is missing.
func Count(obj map[string]any, def int64, path ...string) int64 {
	v, found, _ := unstructured.NestedFieldNoCopy(obj, path...)
	if n, ok := CountOf(v); found && ok {
		return n
	}
	return def
}

// CountOf reads a count: int64 from the API server, float64 from YAML, or
// digits in a string (a resource quantity such as "8").
func CountOf(v any) (int64, bool) {
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case float64:
		n = int64(x)
	case string:
		_, _ = fmt.Sscan(x, &n)
	default:
		return 0, false
	}
	return n, true
}
