package diff

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// What an update costs a model while its pods restart, per workload shape.
func TestRestartCost(t *testing.T) {
	sts := func(replicas int64, image string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": map[string]any{"name": "m"},
			"spec": map[string]any{"replicas": replicas, "template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{
				"name": "vllm", "image": image, "startupProbe": map[string]any{"failureThreshold": int64(90), "periodSeconds": int64(60)},
			}}}}},
		}}
	}
	for _, tc := range []struct {
		name       string
		live, pred *unstructured.Unstructured
		action     Action
		surge      bool
		want       string
	}{
		{"one replica, new image, room for a copy", sts(1, "v1"), sts(1, "v2"), Update, true, "no downtime (surge): a copy of StatefulSet m with the new pod template starts beside it"},
		{"one replica, new image", sts(1, "v1"), sts(1, "v2"), Update, false, "DOWN while it restarts: StatefulSet m replaces its only replica in place for up to 1h30m"},
		{"three replicas, new image", sts(3, "v1"), sts(3, "v2"), Update, false, "restarts one replica at a time: 2 of 3 keep serving"},
		{"replicas only", sts(1, "v1"), sts(2, "v1"), Update, false, ""},
		{"a conflict that restarts", sts(1, "v1"), sts(1, "v2"), Conflict, false, "DOWN while it restarts"},
		{"a create", nil, sts(1, "v2"), Create, false, ""},
	} {
		p := Prediction{Live: tc.live, Predicted: tc.pred, Surge: tc.surge, Change: Change{Action: tc.action, Kind: "StatefulSet", Name: "m"}}
		got := restartCost(p)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// Which updates sync can surge: a serving StatefulSet whose pod template
// changes; nothing that does not restart pods, and nothing not serving.
func TestSurgeable(t *testing.T) {
	sts := func(kind string, replicas int64, image string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": kind, "metadata": map[string]any{"name": "m"},
			"spec": map[string]any{"replicas": replicas, "template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "vllm", "image": image}}}}},
		}}
	}
	for _, tc := range []struct {
		name       string
		live, pred *unstructured.Unstructured
		want       bool
	}{
		{"one replica, new image", sts("StatefulSet", 1, "v1"), sts("StatefulSet", 1, "v2"), true},
		{"two replicas, new image", sts("StatefulSet", 2, "v1"), sts("StatefulSet", 2, "v2"), true},
		{"scaled to zero", sts("StatefulSet", 0, "v1"), sts("StatefulSet", 0, "v2"), false},
		{"replicas only", sts("StatefulSet", 1, "v1"), sts("StatefulSet", 2, "v1"), false},
		{"a Deployment", sts("Deployment", 1, "v1"), sts("Deployment", 1, "v2"), false},
	} {
		p := Prediction{Live: tc.live, Predicted: tc.pred, Change: Change{Action: Update, Kind: tc.live.GetKind(), Name: "m"}}
		if got := surgeable(p); got != tc.want {
			t.Errorf("%s: surgeable %v, want %v", tc.name, got, tc.want)
		}
	}
}
