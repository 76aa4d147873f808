package workload

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// RolloutMargin is what a rollout takes beyond its startup probes: scheduling,
// the image pull, the volume attach.
const RolloutMargin = 10 * time.Minute

// Budget is how long a wait gives the slowest workload of a set, and which
// one that is.
type Budget struct {
	Timeout time.Duration
	// Slowest names the workload that sets the budget ("" when none has a
	// startup probe and the default stands).
	Slowest string
	// Probe is the slowest workload's own startup budget: its pods' startup
	// probes, one pod after another for an OrderedReady StatefulSet.
	Probe time.Duration
}

func (b Budget) String() string {
	if b.Slowest == "" {
		return b.Timeout.String()
	}
	return fmt.Sprintf("%s (%s: startup probes %s, plus %s)", b.Timeout, b.Slowest, b.Probe, RolloutMargin)
}

// RolloutBudget derives a --wait timeout from the workloads' startup probes:
// a pod may take initialDelay + period × failureThreshold before its probe
// gives up, an OrderedReady StatefulSet rolls its pods one after another, and
// workloads roll out side by side. The result is never below min.
func RolloutBudget(objs []*unstructured.Unstructured, min time.Duration) Budget {
	b := Budget{Timeout: min}
	for _, u := range objs {
		templates := Templates(u)
		if len(templates) == 0 {
			continue
		}
		var pod time.Duration
		for _, t := range templates {
			tmpl, _, _ := unstructured.NestedMap(u.Object, t.Path...)
			pod = max(pod, startupBudget(tmpl))
		}
		total := pod * time.Duration(Serial(u))
		if total+RolloutMargin > b.Timeout {
			b = Budget{Timeout: total + RolloutMargin, Slowest: u.GetKind() + " " + u.GetName(), Probe: total}
		}
	}
	return b
}

// startupBudget is the longest any container's startup probe lets a pod start.
func startupBudget(tmpl map[string]any) time.Duration {
	var t corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tmpl, &t); err != nil {
		return 0
	}
	var longest time.Duration
	for _, c := range t.Spec.Containers {
		p := c.StartupProbe
		if p == nil {
			continue
		}
		period, threshold := orDefault(p.PeriodSeconds, 10), orDefault(p.FailureThreshold, 3)
		d := time.Duration(p.InitialDelaySeconds+period*threshold+orDefault(p.TimeoutSeconds, 1)) * time.Second
		longest = max(longest, d)
	}
	return longest
}

// orDefault is the API server's default for an unset probe field.
func orDefault(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}
