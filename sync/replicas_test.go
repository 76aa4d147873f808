package sync_test

import (
	"strings"
	"testing"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/kubetest"
	"modelsync.dev/modelsync/sync"
)

// modelWorkload is the plan's change of the StatefulSet the Model named
// model generates.
func modelWorkload(t *testing.T, p *diff.Plan, model string) diff.Change {
	t.Helper()
	for _, c := range p.Changes {
		if c.Kind == "StatefulSet" && c.Model == model {
			return c
		}
	}
	t.Fatalf("the plan has no StatefulSet of Model %s", model)
	return diff.Change{}
}

// An emergency `kubectl scale --replicas=0` is a hand edit, as the same
// write by `kubectl patch` is: the scale subresource records no field
// manager, so the plan compares the tree's configuration with the record
// of what the last sync applied. With the tree unchanged the plan shows a
// conflict that says the cluster changed, never an update from the tree;
// a change of the tree's replicas is still an update.
func TestHandScaleIsAHandEdit(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	e.sync(files, sync.DefaultOptions())
	res, _ := e.Plan(files)
	sts := modelWorkload(t, res.Plan, "qwen3")

	for _, full := range []bool{false, true} {
		kubetest.Kubectl(t, e.NS, "", "scale", "statefulset/"+sts.Name, "--replicas=0")
		opts := diff.DefaultOptions()
		opts.Full = full
		res, _ = e.PlanWith(files, opts)
		got := modelWorkload(t, res.Plan, "qwen3")
		if got.Action != diff.Conflict || !strings.Contains(got.Message, "changed on the cluster") || !strings.Contains(got.Diff, "replicas") {
			t.Errorf("full=%v: after kubectl scale the plan shows %s %q\n%s\nwant a conflict: changed on the cluster", full, got.Action, got.Message, got.Diff)
		}
	}

	// The tree asks for two replicas: a change of the tree, not a hand edit.
	kubetest.Kubectl(t, e.NS, "", "scale", "statefulset/"+sts.Name, "--replicas=1")
	files["models-config/models/qwen3.yaml"].Data = []byte(strings.Replace(string(files["models-config/models/qwen3.yaml"].Data), "    gpus: 4\n", "    gpus: 4\n    replicas: 2\n", 1))
	res, _ = e.Plan(files)
	if got := modelWorkload(t, res.Plan, "qwen3"); got.Action != diff.Update {
		t.Errorf("the tree's own replicas change: %s %q, want update", got.Action, got.Message)
	}
}
