package sync_test

import (
	"fmt"
	"regexp"
	"testing/fstest"

	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/testing/kubetest"
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
	setReplicas(files, "models-config/models/qwen3.yaml", 2)
	res, _ = e.Plan(files)
	if got := modelWorkload(t, res.Plan, "qwen3"); got.Action != diff.Update {
		t.Errorf("the tree's own replicas change: %s %q, want update", got.Action, got.Message)
	}
}

// hpa is an autoscaling/v2 HorizontalPodAutoscaler scaling the StatefulSet
// named target.
func hpa(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(`apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: qwen3
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: ` + target + `}
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
`)}
}

// bumpImage changes the engine image of the Model in file to v0.11.3.
func bumpImage(files fstest.MapFS, file string) { setImage(files, file, "v0.11.3") }

// setImage sets the tag of the engine image of the Model in file.
func setImage(files fstest.MapFS, file, tag string) {
	f := files[file]
	f.Data = regexp.MustCompile(`vllm/vllm-openai:v[0-9.]+`).ReplaceAll(f.Data, []byte("vllm/vllm-openai:"+tag))
}

// setReplicas sets server.replicas of the Model in file.
func setReplicas(files fstest.MapFS, file string, n int) {
	f := files[file]
	f.Data = []byte(strings.Replace(string(f.Data), "    gpus: 4\n", fmt.Sprintf("    gpus: 4\n    replicas: %d\n", n), 1))
}

// replicasOf is the live spec.replicas of a StatefulSet.
func (e *env) replicasOf(name string) int32 {
	e.T.Helper()
	sts, err := e.C.Core.AppsV1().StatefulSets(e.NS).Get(e.T.Context(), name, metav1.GetOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	return *sts.Spec.Replicas
}

// The tree's own autoscaler owns replicas: a StatefulSet an HPA of the tree
// targets is applied without spec.replicas. The HPA scaling it (through the
// scale subresource, as kubectl scale does) is neither drift nor a change,
// and neither an unrelated sync nor a change of the model's own template
// writes the count back. Added to a workload whose two replicas modelsync
// applied, before the HPA first scales, the field is handed over at its
// live count (Kubernetes' documented hand-over), so dropping it from
// modelsync's configuration does not reset it to 1.
func TestAutoscalerOwnsReplicas(t *testing.T) {
	for _, tc := range []struct {
		name       string
		hpaAtFirst bool
	}{{"in the tree from the first sync", true}, {"added to a synced workload", false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			files := kubetest.RepoTree(t)
			res, _ := e.Plan(files)
			sts := modelWorkload(t, res.Plan, "qwen3").Name
			if tc.hpaAtFirst {
				files["models-config/hpa.yaml"] = hpa(sts)
			} else {
				setReplicas(files, "models-config/models/qwen3.yaml", 2)
			}
			e.sync(files, sync.DefaultOptions())
			if !tc.hpaAtFirst {
				files["models-config/hpa.yaml"] = hpa(sts)
				bumpImage(files, "models-config/models/qwen3.yaml")
				res, _ = e.Plan(files)
				if got := modelWorkload(t, res.Plan, "qwen3"); got.Action != diff.Update || strings.Contains(got.Diff, "replicas") || !strings.Contains(got.Message, "left to HorizontalPodAutoscaler qwen3") {
					t.Errorf("the HPA added with an image change: %s %q\n%s\nwant an update that hands replicas over", got.Action, got.Message, got.Diff)
				}
				e.sync(files, sync.DefaultOptions())
				if n := e.replicasOf(sts); n != 2 {
					t.Errorf("the hand-over left %d replicas, want the 2 modelsync had applied", n)
				}
			}
			kubetest.Kubectl(t, e.NS, "", "scale", "statefulset/"+sts, "--replicas=3") // as the HPA controller does

			res, _ = e.Plan(files)
			if got := modelWorkload(t, res.Plan, "qwen3"); got.Action != diff.Unchanged {
				t.Errorf("after the autoscaler scaled: %s %q\n%s\nwant unchanged", got.Action, got.Message, got.Diff)
			}
			e.sync(files, sync.DefaultOptions())
			files["models-config/models/ext.yaml"] = kubetest.ExternalModel("ext", "envoy-ai-gateway-nrp") // an unrelated change
			e.sync(files, sync.DefaultOptions())
			if n := e.replicasOf(sts); n != 3 {
				t.Errorf("an unrelated sync set replicas to %d, want the autoscaler's 3", n)
			}
			setImage(files, "models-config/models/qwen3.yaml", "v0.11.4")
			res, _ = e.Plan(files)
			if got := modelWorkload(t, res.Plan, "qwen3"); got.Action != diff.Update || strings.Contains(got.Diff, "replicas") {
				t.Errorf("the model's own image change: %s %q\n%s\nwant an update that leaves replicas", got.Action, got.Message, got.Diff)
			}
			for _, m := range res.Plan.Models {
				if m.Name == "qwen3" && (m.GPUsBefore["nvidia.com/gpu"] != 12 || m.GPUsAfter["nvidia.com/gpu"] != 12) {
					t.Errorf("qwen3's GPUs %v → %v, want the autoscaler's 3 replicas × 4 on both sides", m.GPUsBefore, m.GPUsAfter)
				}
			}
			e.sync(files, sync.DefaultOptions())
			if n := e.replicasOf(sts); n != 3 {
				t.Errorf("the model's own update set replicas to %d, want the autoscaler's 3", n)
			}
			if res, _ = e.Plan(files); res.Plan.HasChanges() {
				t.Errorf("the plan after the sync has changes: %+v", res.Plan.Changes)
			}
		})
	}
}
