package workload

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Which container states end a wait at once, and what the reason says.
func TestPodFailing(t *testing.T) {
	waiting := func(reason string, last *corev1.ContainerStateTerminated) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "vllm", RestartCount: 3, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}},
			LastTerminationState: corev1.ContainerState{Terminated: last}}
	}
	for _, tc := range []struct {
		name   string
		status corev1.ContainerStatus
		want   string
	}{
		{"crash loop after an OOM kill", waiting("CrashLoopBackOff", &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}), "pod m-0: container vllm: CrashLoopBackOff (last exit: OOMKilled, code 137; restarted 3 times)"},
		{"an image that cannot be pulled", waiting("ImagePullBackOff", nil), "pod m-0: container vllm: ImagePullBackOff"},
		{"still creating", waiting("ContainerCreating", nil), ""},
		{"running, loading the weights", corev1.ContainerStatus{Name: "vllm", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}, ""},
	} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "m-0"}, Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{tc.status}}}
		if got := PodFailing(pod); (got == "") != (tc.want == "") || !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
