package workload

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"modelsync.dev/modelsync/cluster"
)

// Unschedulable is the scheduler's own reason why a workload's pods cannot
// be placed (PodScheduled=False, reason Unschedulable: "0/6 nodes are
// available: 6 Insufficient nvidia.com/a100…"), "" when none of its pods
// waits for a node. Only workloads are asked (a LeaderWorkerSet's pods by
// its controller's name label).
//
// A pod is reported only once it has been unschedulable for at least
// settled: the scheduler also says "unschedulable" for a moment while a
// claim is being bound.
func Unschedulable(ctx context.Context, r cluster.Reader, u *unstructured.Unstructured, settled time.Duration) (string, error) {
	match := PodLabels(u)
	if len(match) == 0 {
		return "", nil
	}
	pods, err := r.List(ctx, corev1.SchemeGroupVersion.WithKind("Pod"), u.GetNamespace(), labels.SelectorFromSet(match).String())
	if err != nil {
		return "", fmt.Errorf("list the pods of %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	for _, p := range pods {
		conds, _, _ := unstructured.NestedSlice(p.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			since, _ := time.Parse(time.RFC3339, fmt.Sprint(m["lastTransitionTime"]))
			if m["type"] == string(corev1.PodScheduled) && m["status"] == string(corev1.ConditionFalse) && m["reason"] == corev1.PodReasonUnschedulable &&
				time.Since(since) >= settled {
				msg, _ := m["message"].(string)
				return "pod " + p.GetName() + " cannot be scheduled: " + msg, nil
			}
		}
	}
	return "", nil
}
