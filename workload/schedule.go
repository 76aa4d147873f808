package workload

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Unschedulable is the scheduler's own reason why pods (a workload's, listed
// by PodLabels) cannot be placed (PodScheduled=False, reason Unschedulable: "0/6 nodes are
// available: 6 Insufficient nvidia.com/a100…"), "" when none of its pods
// waits for a node.
//
// A pod is reported only once it has been unschedulable for at least
// settled: the scheduler also says "unschedulable" for a moment while a
// claim is being bound.
func Unschedulable(pods []unstructured.Unstructured, settled time.Duration) string {
	for _, p := range pods {
		conds, _, _ := unstructured.NestedSlice(p.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			since, _ := time.Parse(time.RFC3339, fmt.Sprint(m["lastTransitionTime"]))
			if m["type"] == string(corev1.PodScheduled) && m["status"] == string(corev1.ConditionFalse) && m["reason"] == corev1.PodReasonUnschedulable &&
				time.Since(since) >= settled {
				msg, _ := m["message"].(string)
				return "pod " + p.GetName() + " cannot be scheduled: " + msg
			}
		}
	}
	return ""
}

// failingReasons are the kubelet's reasons for a container that waiting
// will not start: it crashes at load, its image cannot be pulled, or its
// configuration is wrong.
var failingReasons = map[string]bool{
	"CrashLoopBackOff": true, "ImagePullBackOff": true, "ErrImagePull": true, "InvalidImageName": true,
	"CreateContainerConfigError": true, "CreateContainerError": true,
}

// Failing is why pods (a workload's) fail to start, as their kubelet reports
// it: "pod m-0: container vllm: CrashLoopBackOff (last exit: OOMKilled) …";
// "" when none of them does.
func Failing(pods []unstructured.Unstructured) string {
	for _, p := range pods {
		var pod corev1.Pod
		if runtime.DefaultUnstructuredConverter.FromUnstructured(p.Object, &pod) != nil || pod.DeletionTimestamp != nil {
			continue
		}
		if why := PodFailing(&pod); why != "" {
			return why
		}
	}
	return ""
}

// PodFailing is why pod's containers fail to start, "" when they do not.
func PodFailing(pod *corev1.Pod) string {
	for _, c := range append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...) {
		w := c.State.Waiting
		if w == nil || !failingReasons[w.Reason] {
			continue
		}
		why := fmt.Sprintf("pod %s: container %s: %s", pod.Name, c.Name, w.Reason)
		if t := c.LastTerminationState.Terminated; t != nil {
			why += fmt.Sprintf(" (last exit: %s, code %d; restarted %d times)", t.Reason, t.ExitCode, c.RestartCount)
		}
		if w.Message != "" {
			why += ": " + w.Message
		}
		return why
	}
	return ""
}
