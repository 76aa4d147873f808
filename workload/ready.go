package workload

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Ready tells whether a live object is healthy, and why not: a StatefulSet
// or Deployment whose rollout finished; a custom resource whose Accepted and
// Ready conditions (its own, or per parent or ancestor as Gateway API
// policies report them) are all True for its current generation. Objects
// without either are ready once they exist.
func Ready(u *unstructured.Unstructured) (bool, string) {
	switch u.GetKind() {
	case "StatefulSet":
		return statefulSetReady(u)
	case "Deployment":
		return deploymentReady(u)
	case LeaderWorkerSet.Kind:
		return leaderWorkerSetReady(u)
	}
	return conditionsReady(u)
}

// observed says whether the workload's controller has seen its current
// generation: its status says nothing about the spec before then.
func observed(u *unstructured.Unstructured) (bool, string) {
	gen := u.GetGeneration()
	seen, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	if seen == 0 || seen < gen {
		return false, "waiting for the controller to observe generation " + fmt.Sprint(gen)
	}
	return true, ""
}

func statefulSetReady(u *unstructured.Unstructured) (bool, string) {
	if ok, why := observed(u); !ok {
		return false, why
	}
	replicas := Count(u.Object, 1, "spec", "replicas")
	ready, _, _ := unstructured.NestedInt64(u.Object, "status", "readyReplicas")
	updated, _, _ := unstructured.NestedInt64(u.Object, "status", "updatedReplicas")
	current, _, _ := unstructured.NestedString(u.Object, "status", "currentRevision")
	update, _, _ := unstructured.NestedString(u.Object, "status", "updateRevision")
	partition, _, _ := unstructured.NestedInt64(u.Object, "spec", "updateStrategy", "rollingUpdate", "partition")
	switch {
	case ready < replicas:
		return false, fmt.Sprintf("%d of %d pods ready", ready, replicas)
	case partition > 0 && updated < replicas-partition:
		return false, fmt.Sprintf("%d of %d pods updated (partition %d)", updated, replicas-partition, partition)
	case partition == 0 && update != "" && current != update:
		return false, fmt.Sprintf("rolling update: %d pods at revision %s", updated, update)
	}
	return true, fmt.Sprintf("%d of %d pods ready", ready, replicas)
}

// leaderWorkerSetReady: the controller has seen the current spec, every
// group runs it (updatedReplicas) and is ready (leader and workers), and the
// controller reports Available. readyReplicas alone counts groups of the old
// template too: a template change would read as done before it rolled. A
// LeaderWorkerSet nobody reports on has no pods: without its controller it
// never becomes ready.
func leaderWorkerSetReady(u *unstructured.Unstructured) (bool, string) {
	replicas := Count(u.Object, 1, "spec", "replicas")
	ready, _, _ := unstructured.NestedInt64(u.Object, "status", "readyReplicas")
	updated, hasUpdated, _ := unstructured.NestedInt64(u.Object, "status", "updatedReplicas")
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	available := false
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Available" && m["status"] == "True" {
			available = true
		}
	}
	if len(conds) == 0 {
		return false, "no status yet: is the LeaderWorkerSet controller installed?"
	}
	// LWS releases before observedGeneration do not write it.
	if _, has, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); has {
		if ok, why := observed(u); !ok {
			return false, why
		}
	}
	switch {
	case hasUpdated && updated < replicas:
		return false, fmt.Sprintf("%d of %d groups updated", updated, replicas)
	case ready < replicas || !available:
		return false, fmt.Sprintf("%d of %d groups ready", ready, replicas)
	}
	return true, fmt.Sprintf("%d of %d groups ready", ready, replicas)
}

func deploymentReady(u *unstructured.Unstructured) (bool, string) {
	if ok, why := observed(u); !ok {
		return false, why
	}
	replicas := Count(u.Object, 1, "spec", "replicas")
	updated, _, _ := unstructured.NestedInt64(u.Object, "status", "updatedReplicas")
	available, _, _ := unstructured.NestedInt64(u.Object, "status", "availableReplicas")
	switch {
	case updated < replicas:
		return false, fmt.Sprintf("%d of %d replicas updated", updated, replicas)
	case available < replicas:
		return false, fmt.Sprintf("%d of %d replicas available", available, replicas)
	}
	return true, fmt.Sprintf("%d of %d replicas available", available, replicas)
}

// notCondition is how a False condition reads: a verdict of the controller,
// which waiting does not change.
var notCondition = map[string]string{"Accepted": "not accepted:", "Ready": "not ready:"}

// Refused reports whether Ready's message is a controller's verdict against
// the object (a condition False), not something still to come.
func Refused(message string) bool {
	for _, p := range notCondition {
		if strings.HasPrefix(message, p) {
			return true
		}
	}
	return false
}

// conditionsReady reads status.conditions, status.parents[].conditions and
// status.ancestors[].conditions.
func conditionsReady(u *unstructured.Unstructured) (bool, string) {
	var conds []map[string]any
	collect := func(list []any) {
		for _, c := range list {
			if m, ok := c.(map[string]any); ok {
				conds = append(conds, m)
			}
		}
	}
	own, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	collect(own)
	for _, field := range []string{"parents", "ancestors"} {
		entries, _, _ := unstructured.NestedSlice(u.Object, "status", field)
		for _, e := range entries {
			if m, ok := e.(map[string]any); ok {
				list, _, _ := unstructured.NestedSlice(m, "conditions")
				collect(list)
			}
		}
	}
	seen := 0
	for _, c := range conds {
		typ, _ := c["type"].(string)
		if typ != "Accepted" && typ != "Ready" {
			continue
		}
		seen++
		status, _ := c["status"].(string)
		if gen, ok := c["observedGeneration"].(int64); ok && gen < u.GetGeneration() {
			return false, fmt.Sprintf("%s: waiting for the controller to observe generation %d", typ, u.GetGeneration())
		}
		if status != "True" {
			reason, _ := c["reason"].(string)
			message, _ := c["message"].(string)
			if status == "False" {
				why := strings.TrimSpace(notCondition[typ] + " " + reason)
				if message != "" {
					why += ": " + message
				}
				return false, why
			}
			return false, strings.TrimSpace(fmt.Sprintf("%s=%s %s %s", typ, status, reason, message))
		}
	}
	if seen == 0 {
		return true, "exists"
	}
	return true, "accepted"
}
