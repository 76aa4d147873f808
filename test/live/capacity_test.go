package live_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"modelsync.dev/modelsync/internal/testing/kubetest"
)

// The plan says, before the merge, whether the GPUs are there: on the
// simulated cluster the repository's models all fit, and three 8-GPU models
// where two 8-GPU nodes are free do not, with the scheduler's kind of reason;
// the sync that follows finds the same (TestUnschedulableFailsTheWaitWithTheReason).
func TestPlanSaysWhetherTheModelsFit(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	res, _ := e.Plan(files)
	for _, w := range res.Plan.Warnings {
		if strings.Contains(w, "cannot be placed") || strings.Contains(w, "capacity not checked") {
			t.Errorf("the repository's models on an empty cluster: %s", w)
		}
	}
	fits := 0
	for _, m := range res.Plan.Models {
		for _, c := range m.Capacity {
			if strings.HasPrefix(c, "fits now (on gpu-") {
				fits++
			}
		}
	}
	if fits == 0 {
		t.Fatalf("no model's capacity verdict in the plan: %+v", res.Plan.Models)
	}
	for _, m := range res.Plan.Models {
		if m.Capacity != nil && (m.Fits == nil || !*m.Fits) {
			t.Errorf("Model %s fits now but its plan says fits %v", m.Name, m.Fits)
		}
	}
	for _, g := range res.Plan.GPUs {
		if g.Free == nil || *g.Free <= 0 {
			t.Errorf("no free %s in the plan of an empty simulated cluster: %v", g.Resource, g.Free)
		}
	}

	qwen35 := string(files["models-config/models/qwen35.yaml"].Data)
	for _, n := range []string{"one", "two"} {
		copy := strings.Replace(strings.Replace(qwen35, "name: qwen35", "name: qwen35-"+n, 1), "served: qwen3.5", "served: qwen3.5-"+n, 1)
		files["models-config/models/qwen35-"+n+".yaml"] = &fstest.MapFile{Data: []byte(copy)}
	}
	res, _ = e.Plan(files)
	var refused []string
	for _, w := range res.Plan.Warnings {
		if strings.Contains(w, "cannot be placed now") {
			refused = append(refused, w)
		}
	}
	if len(refused) != 1 || !strings.Contains(refused[0], "Insufficient nvidia.com/gpu") {
		t.Errorf("three 8-GPU models on two free 8-GPU nodes: want one model refused for want of GPUs, got %q", refused)
	}
	misfits := 0
	for _, m := range res.Plan.Models {
		if m.Fits != nil && !*m.Fits {
			misfits++
		}
	}
	if misfits != 1 {
		t.Errorf("%d models marked as not fitting, want 1", misfits)
	}

	// A warning by default; an error with --require-capacity.
	bin := buildModelsync(t)
	dir := kubetest.WriteTree(t, files)
	args := []string{"diff", "--kubeconfig", kubetest.KubeconfigFile(t), "-n", e.NS, "--path", dir}
	run(t, 1, bin, args...)
	if out := run(t, 2, bin, append(args, "--require-capacity")...); !strings.Contains(out, "--require-capacity: qwen35") || !strings.Contains(out, "cannot be placed on the cluster now") {
		t.Errorf("diff --require-capacity:\n%s", out)
	}
}
