package workload

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func object(kind, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": kind, "metadata": map[string]any{"name": name}, "spec": spec}}
}

func podWithProbe(initialDelay, period, threshold int64) map[string]any {
	probe := map[string]any{"httpGet": map[string]any{"path": "/health", "port": int64(8000)}, "periodSeconds": period, "failureThreshold": threshold}
	if initialDelay > 0 {
		probe["initialDelaySeconds"] = initialDelay
	}
	return map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "server", "image": "vllm", "startupProbe": probe}}}}
}

func TestRolloutBudget(t *testing.T) {
	large := podWithProbe(0, 10, 540) // the generator's 100B+ probe: 90 min
	small := podWithProbe(0, 10, 90)
	tests := []struct {
		name    string
		objs    []*unstructured.Unstructured
		want    time.Duration
		slowest string
	}{
		{"no workload keeps the default", []*unstructured.Unstructured{object("Service", "s", map[string]any{})}, 15 * time.Minute, ""},
		{"a pod without a startup probe keeps the default", []*unstructured.Unstructured{object("StatefulSet", "a", map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "i"}}}}})}, 15 * time.Minute, ""},
		{"the slowest workload sets it", []*unstructured.Unstructured{
			object("StatefulSet", "small", map[string]any{"template": small}),
			object("StatefulSet", "large", map[string]any{"template": large}),
		}, 90*time.Minute + time.Second + RolloutMargin, "StatefulSet large"},
		{"OrderedReady pods start one after another", []*unstructured.Unstructured{
			object("StatefulSet", "two", map[string]any{"replicas": int64(2), "template": small}),
		}, 2*(15*time.Minute+time.Second) + RolloutMargin, "StatefulSet two"},
		{"Parallel pods start together", []*unstructured.Unstructured{
			object("StatefulSet", "two", map[string]any{"replicas": int64(2), "podManagementPolicy": "Parallel", "template": small}),
		}, 15*time.Minute + time.Second + RolloutMargin, "StatefulSet two"},
		{"initial delay counts", []*unstructured.Unstructured{
			object("Deployment", "d", map[string]any{"template": podWithProbe(600, 10, 90)}),
		}, 25*time.Minute + time.Second + RolloutMargin, "Deployment d"},
		{"a LeaderWorkerSet's slower template", []*unstructured.Unstructured{
			object("LeaderWorkerSet", "glm", map[string]any{"leaderWorkerTemplate": map[string]any{"leaderTemplate": small, "workerTemplate": large}}),
		}, 90*time.Minute + time.Second + RolloutMargin, "LeaderWorkerSet glm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := RolloutBudget(tt.objs, 15*time.Minute)
			if b.Timeout != tt.want || b.Slowest != tt.slowest {
				t.Errorf("RolloutBudget = %s / %q, want %s / %q", b.Timeout, b.Slowest, tt.want, tt.slowest)
			}
		})
	}
}
