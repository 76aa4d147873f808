package live_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
)

func TestMain(m *testing.M) { kubetest.MainCluster(m) }

type env struct {
	*kubetest.Env
	m *sync.Manager
}

// newEnv is the runbook's namespace, nrp-llm, on the shared cluster: the
// GPU nodes carry the taint nautilus.io/reservation=nrp-llm, which the
// generated workloads tolerate for their own namespace. So the tests take
// turns: each deletes the namespace when it ends and waits until it is gone
// (pods included), so the next one finds the GPUs free.
func newEnv(t *testing.T) *env {
	c, err := cluster.New(kubetest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	const ns = "nrp-llm"
	useNamespace(t, c.Core, ns)
	e := &kubetest.Env{T: t, NS: ns, C: c}
	return &env{Env: e, m: sync.NewManager(c, ns, inventory.DefaultName)}
}

// syncAndWait applies files and waits for every object, as `sync --wait`.
func (e *env) syncAndWait(files fstest.MapFS, opts sync.WaitOptions) error {
	e.T.Helper()
	res, _ := e.Plan(files)
	if _, err := e.m.Apply(e.T.Context(), res, "rev", sync.DefaultOptions(), sync.NoProgress{}); err != nil {
		e.T.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, p := range res.Predictions {
		objs = append(objs, p.Object.Unstructured)
	}
	return e.m.Wait(e.T.Context(), objs, opts, sync.NoProgress{})
}

// treeWithOnly is the repository's tree with one Model, models-config's
// models/<file>, rewritten by edit, and no other: a lab with the GPUs to
// itself. It returns the tree and the Model's path in it.
func treeWithOnly(t *testing.T, file string, edit func(string) string) (fstest.MapFS, string) {
	t.Helper()
	files := kubetest.RepoTree(t)
	for name := range files {
		if strings.HasPrefix(name, "models-config/models/") {
			delete(files, name)
		}
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "models-config", "models", file))
	if err != nil {
		t.Fatal(err)
	}
	path := "models-config/models/" + file
	files[path] = &fstest.MapFile{Data: []byte(edit(string(data)))}
	return files, path
}

func waitOptions() sync.WaitOptions {
	o := sync.DefaultWaitOptions()
	o.Timeout, o.Interval, o.Unschedulable = 3*time.Minute, 500*time.Millisecond, 15*time.Second
	return o
}

// sync --wait follows a real rollout: the StatefulSet controller replaces the
// pod of a changed StatefulSet, kwok makes it ready, the wait ends when the
// update revision is current.
func TestWaitFollowsARealRollout(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	if err := e.syncAndWait(files, waitOptions()); err != nil {
		t.Fatalf("first rollout: %v", err)
	}
	const name = "minimax-vllm-inference"
	before := e.statefulSet(name)
	model := "models-config/models/minimax.yaml"
	changed := strings.Replace(string(files[model].Data), "vllm/vllm-openai:", "vllm/vllm-openai:next-", 1)
	if changed == string(files[model].Data) {
		t.Fatal("the MiniMax Model names no vllm image to change")
	}
	files[model] = &fstest.MapFile{Data: []byte(changed)}
	if err := e.syncAndWait(files, waitOptions()); err != nil {
		t.Fatalf("rollout of the changed StatefulSet: %v", err)
	}
	after := e.statefulSet(name)
	current, _, _ := unstructured.NestedString(after.Object, "status", "currentRevision")
	update, _, _ := unstructured.NestedString(after.Object, "status", "updateRevision")
	old, _, _ := unstructured.NestedString(before.Object, "status", "currentRevision")
	if current != update || current == old {
		t.Errorf("revisions after the wait: current %s, update %s (was %s)", current, update, old)
	}
	pod, err := e.C.Core.CoreV1().Pods(e.NS).Get(t.Context(), name+"-0", metav1.GetOptions{})
	if err != nil || !strings.Contains(pod.Spec.Containers[0].Image, ":next-") {
		t.Errorf("the pod does not run the new image: %v", err)
	}
}

// A model that no node can hold fails the wait with the scheduler's reason,
// not with a timeout.
func TestUnschedulableFailsTheWaitWithTheReason(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	qwen35 := string(files["models-config/models/qwen35.yaml"].Data)
	for _, n := range []string{"one", "two"} {
		copy := strings.Replace(strings.Replace(qwen35, "name: qwen35", "name: qwen35-"+n, 1), "served: qwen3.5", "served: qwen3.5-"+n, 1)
		files["models-config/models/qwen35-"+n+".yaml"] = &fstest.MapFile{Data: []byte(copy)}
	}
	start := time.Now()
	err := e.syncAndWait(files, waitOptions())
	if !errors.Is(err, sync.ErrUnschedulable) || !strings.Contains(err.Error(), "Insufficient nvidia.com/gpu") {
		t.Fatalf("three 8-GPU models on two 8-GPU nodes: %v", err)
	}
	if time.Since(start) > 2*time.Minute {
		t.Errorf("the wait ran into its timeout instead of reporting the reason")
	}
}

// A multi-node model whose pods no node can hold fails the wait with the
// scheduler's reason too: a LeaderWorkerSet's pods are found by the label its
// controller gives them, as a StatefulSet's are by its selector.
func TestUnschedulableLeaderWorkerSetFailsTheWait(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	glm, err := os.ReadFile(filepath.Join("..", "..", "models-config", "models", "glm-5.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	nowhere := strings.Replace(string(glm), "gpuProducts: [NVIDIA-A100-SXM4-80GB, NVIDIA-H100-80GB-HBM3]", "gpuProducts: [NVIDIA-B300]", 1)
	if nowhere == string(glm) {
		t.Fatal("the GLM-5 Model names no gpuProducts to change")
	}
	files["models-config/models/glm-5.yaml"] = &fstest.MapFile{Data: []byte(nowhere)}
	start := time.Now()
	err = e.syncAndWait(files, waitOptions())
	if !errors.Is(err, sync.ErrUnschedulable) || !strings.Contains(err.Error(), "LeaderWorkerSet") || !strings.Contains(err.Error(), "node affinity") {
		t.Fatalf("a LeaderWorkerSet on GPUs no node has: %v", err)
	}
	if time.Since(start) > 2*time.Minute {
		t.Errorf("the wait ran into its timeout instead of reporting the reason")
	}
}

// A pod flapping readiness between the plan and the prune (the StatefulSet
// controller writes the StatefulSet's status each time) does not make the
// approval stale.
func TestApprovalSurvivesReadinessFlapping(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	if err := e.syncAndWait(files, waitOptions()); err != nil {
		t.Fatal(err)
	}
	delete(files, "models-config/models/qwen3-embedding-8b.yaml")
	res, _ := e.Plan(files)
	approved := res.Plan
	const name = "qwen3-embedding-8b-vllm-inference"
	before := e.statefulSet(name).GetResourceVersion()
	pod, err := e.C.Core.CoreV1().Pods(e.NS).Get(t.Context(), name+"-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
			pod.Status.Conditions[i].Status = corev1.ConditionFalse
		}
	}
	if _, err := e.C.Core.CoreV1().Pods(e.NS).UpdateStatus(t.Context(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return e.statefulSet(name).GetResourceVersion() != before, nil
	})
	if err != nil {
		t.Fatal("the StatefulSet controller never wrote the StatefulSet's status after the pod turned unready")
	}
	now, _ := e.Plan(files)
	rep, err := e.m.Prune(t.Context(), approved, now, sync.DefaultPruneOptions(), sync.NoProgress{})
	if err != nil {
		t.Fatalf("prune after the readiness flap: %v", err)
	}
	if n := rep.Count()[sync.Removed]; n != 6 {
		t.Errorf("%d removals done, want 6", n)
	}
	if after, _ := e.Plan(files); after.Plan.HasChanges() {
		t.Errorf("plan after the prune: %+v", after.Plan.Removals())
	}
}

func (e *env) statefulSet(name string) *unstructured.Unstructured {
	e.T.Helper()
	u, err := e.C.Reader().Get(e.T.Context(), appsV1StatefulSet, e.NS, name)
	if err != nil {
		e.T.Fatal(err)
	}
	return u
}

var appsV1StatefulSet = diffGVK("apps/v1", "StatefulSet")

func diffGVK(apiVersion, kind string) schema.GroupVersionKind {
	return schema.FromAPIVersionAndKind(apiVersion, kind)
}
