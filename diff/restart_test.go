package diff

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
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
	lws := func(replicas int64, image string) *unstructured.Unstructured {
		pod := map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "vllm", "image": image}}}}
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "metadata": map[string]any{"name": "m"},
			"spec": map[string]any{"replicas": replicas, "leaderWorkerTemplate": map[string]any{"size": int64(3), "leaderTemplate": pod, "workerTemplate": pod}},
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
		{"one group of a LeaderWorkerSet", lws(1, "v1"), lws(1, "v2"), Update, false, "DOWN while it restarts: LeaderWorkerSet m replaces its only group in place"},
		{"two groups", lws(2, "v1"), lws(2, "v2"), Update, false, "restarts one group at a time: 1 of 2 keep serving"},
	} {
		kind := "StatefulSet"
		if tc.pred != nil {
			kind = tc.pred.GetKind()
		}
		p := Prediction{Live: tc.live, Predicted: tc.pred, Surge: tc.surge, Change: Change{Action: tc.action, Kind: kind, Name: "m"}}
		got := restartCost(p)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// Which updates sync can surge: a serving StatefulSet or LeaderWorkerSet
// whose pod templates change; nothing that does not restart pods, and
// nothing not serving.
func TestSurgeable(t *testing.T) {
	sts := func(kind string, replicas int64, image string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": kind, "metadata": map[string]any{"name": "m"},
			"spec": map[string]any{"replicas": replicas, "template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "vllm", "image": image}}}}},
		}}
	}
	lws := func(image string) *unstructured.Unstructured {
		pod := map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "vllm", "image": image}}}}
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "metadata": map[string]any{"name": "m"},
			"spec": map[string]any{"replicas": int64(1), "leaderWorkerTemplate": map[string]any{"size": int64(2), "leaderTemplate": pod, "workerTemplate": pod}},
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
		{"a LeaderWorkerSet, new image", lws("v1"), lws("v2"), true},
	} {
		p := Prediction{Live: tc.live, Predicted: tc.pred, Change: Change{Action: Update, Kind: tc.live.GetKind(), Name: "m"}}
		if got := surgeable(p); got != tc.want {
			t.Errorf("%s: surgeable %v, want %v", tc.name, got, tc.want)
		}
	}
}

// How an update that restarts pods runs, by replicas, room and spec.update:
// the plan's mode, and the change sync sees.
func TestUpdateModes(t *testing.T) {
	sts := func(replicas int64, image, forced string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": map[string]any{"name": "m", "labels": map[string]any{model.LabelModel: "m"}},
			"spec": map[string]any{"replicas": replicas, "template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "vllm", "image": image}}}}},
		}}
		if forced != "" {
			u.SetAnnotations(map[string]string{model.AnnotationUpdate: forced})
		}
		return u
	}
	for _, tc := range []struct {
		name     string
		replicas int64
		forced   string
		room     bool // capacity checked: a copy fits (true) or not (false)
		checked  bool
		want     Action
		mode     UpdateMode
	}{
		{"one replica, capacity not checked", 1, "", false, false, Recreate, RecreateMode},
		{"one replica, room", 1, "", true, true, Update, Surge},
		{"one replica, no room", 1, "", false, true, Recreate, RecreateMode},
		{"two replicas, no room", 2, "", false, true, Update, Roll},
		{"forced surge, capacity not checked", 1, model.UpdateSurge, false, false, Update, Surge},
		{"forced surge, no room", 1, model.UpdateSurge, false, true, Error, ""},
		{"forced recreate, room", 1, model.UpdateRecreate, true, true, Recreate, RecreateMode},
	} {
		applied := sts(tc.replicas, "v2", tc.forced)
		p := Prediction{Object: manifest.Object{Unstructured: applied}, Live: sts(tc.replicas, "v1", ""), Predicted: applied, Applied: applied,
			Change: Change{Action: Update, APIVersion: "apps/v1", Kind: "StatefulSet", Name: "m"}}
		preds := []Prediction{p}
		var noRoom map[manifest.ID]string
		if tc.checked {
			noRoom = map[manifest.ID]string{}
			if tc.room && tc.forced != model.UpdateRecreate {
				preds[0].Surge = true
			} else if !tc.room {
				noRoom[p.Object.ID()] = "cannot be placed now: 1 of 1 pods: 0/1 nodes are available"
			}
		}
		plan := &Plan{Changes: []Change{p.Change}, Models: []ModelChange{{Name: "m"}}}
		gateDowntime(preds, plan, noRoom, false)
		restartLines(preds, plan)
		if got := plan.Changes[0].Action; got != tc.want {
			t.Errorf("%s: %s (%s), want %s", tc.name, got, plan.Changes[0].Message, tc.want)
		}
		if got := plan.Models[0].Update; got != tc.mode {
			t.Errorf("%s: mode %q, want %q", tc.name, got, tc.mode)
		}
	}
}
