package live_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/sync"
)

var leaderWorkerSets = schema.GroupVersionResource{Group: "leaderworkerset.x-k8s.io", Version: "v1", Resource: "leaderworkersets"}

// A changed LeaderWorkerSet template rolls, as LWS rolls its groups, and a
// wait on it ends only once every pod of every group runs the new template:
// the LWS's readyReplicas counts groups of the old template too, so a wait
// that read only it would call the update done before it began.
func TestLeaderWorkerSetRollsAndTheWaitFollows(t *testing.T) {
	e := newEnv(t)
	files, _ := treeWithOnly(t, "glm-5.yaml", func(s string) string { return s })
	if err := e.syncAndWait(files, waitOptions()); err != nil {
		t.Fatalf("first rollout of the multi-node model: %v", err)
	}
	sets := e.C.Dynamic.Resource(leaderWorkerSets).Namespace(e.NS)
	list, err := sets.List(t.Context(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("LeaderWorkerSets: %v, %v", list, err)
	}
	lws := &list.Items[0]
	// What an approved recreate applies: a new image in both templates.
	for _, tmpl := range []string{"leaderTemplate", "workerTemplate"} {
		path := []string{"spec", "leaderWorkerTemplate", tmpl, "spec", "containers"}
		containers, _, _ := unstructured.NestedSlice(lws.Object, path...)
		for _, c := range containers {
			c.(map[string]any)["image"] = "vllm/vllm-openai:next"
		}
		if err := unstructured.SetNestedSlice(lws.Object, containers, path...); err != nil {
			t.Fatal(err)
		}
	}
	lws, err = sets.Update(t.Context(), lws, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Wait(t.Context(), []*unstructured.Unstructured{lws}, waitOptions(), sync.NoProgress{}); err != nil {
		t.Fatalf("wait on the changed LeaderWorkerSet: %v", err)
	}
	pods, err := e.C.Core.CoreV1().Pods(e.NS).List(t.Context(), metav1.ListOptions{LabelSelector: "leaderworkerset.sigs.k8s.io/name=" + lws.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 3 {
		t.Errorf("%d pods after the roll, want the group's 3", len(pods.Items))
	}
	for _, p := range pods.Items {
		if img := p.Spec.Containers[0].Image; img != "vllm/vllm-openai:next" || p.DeletionTimestamp != nil {
			t.Errorf("the wait ended with pod %s on %s (terminating: %v): the roll was not done", p.Name, img, p.DeletionTimestamp != nil)
		}
	}
}

// A multi-node model whose image changes, with room for a second group,
// surges as a StatefulSet does: a copy of the LeaderWorkerSet with the new
// templates starts beside it, its leader serves through the model's
// Service, the LeaderWorkerSet then rolls behind it, and the copy goes.
// The prober counts no sample down.
func TestLeaderWorkerSetImageChangeWithRoomSurges(t *testing.T) {
	e := newEnv(t)
	// Two pods of 4 GPUs per group, so that a second group fits beside the
	// first on the cluster's 8-GPU A100 and H100 nodes; 3 s to load.
	small := strings.NewReplacer("    nodes: 3 ", "    nodes: 2 ", "    pipelineParallel: 3\n", "    pipelineParallel: 2\n",
		"    gpus: 4 ", "    podAnnotations:\n      modelsync.dev/ready-delay: 3s\n    gpus: 4 ")
	files, model := treeWithOnly(t, "glm-5.yaml", small.Replace)
	if got := string(files[model].Data); strings.Count(got, "modelsync.dev/ready-delay") != 1 || !strings.Contains(got, "pipelineParallel: 2") || !strings.Contains(got, "nodes: 2 ") {
		t.Fatalf("the GLM-5 Model does not have the fields this test changes:\n%s", got)
	}
	if err := e.syncAndWait(files, waitOptions()); err != nil {
		t.Fatalf("first rollout of the multi-node model: %v", err)
	}
	rule := e.ruleOf("glm")
	if why := e.serving(t.Context(), rule); why != "" {
		t.Fatalf("GLM-5 does not serve after the first sync: %s", why)
	}

	withImage(files, model, "vllm/vllm-openai:v0.11.3")
	p := e.probe(rule)
	res, err := e.update(files)
	time.Sleep(time.Second)
	p.Stop()
	t.Logf("availability prober, a multi-node model's image change with room (surge): %s", p)
	if err != nil {
		t.Fatalf("the surged update: %v", err)
	}
	if mode := modeOf(res, "glm-5"); mode != diff.Surge {
		t.Fatalf("the plan's mode for GLM-5 with room: %q, want surge (%+v)", mode, res.Plan.Models)
	}
	if p.down != 0 {
		t.Errorf("GLM-5 was down for %d of %d samples during its surged update, want 0", p.down, p.samples)
	}
	pods, err := e.C.Core.CoreV1().Pods(e.NS).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, pod := range pods.Items {
		if pod.DeletionTimestamp != nil {
			continue
		}
		running++
		if strings.Contains(pod.Name, "-surge") || pod.Spec.Containers[0].Image != "vllm/vllm-openai:v0.11.3" {
			t.Errorf("after the surge: pod %s runs %s", pod.Name, pod.Spec.Containers[0].Image)
		}
	}
	if running != 2 {
		t.Errorf("%d pods run after the surge, want the group's 2", running)
	}
	if _, err := e.C.Dynamic.Resource(leaderWorkerSets).Namespace(e.NS).Get(t.Context(), "glm-5-vllm-inference-surge", metav1.GetOptions{}); err == nil {
		t.Errorf("the surge copy is still there after the update")
	}
	// The copy's claims go with it (its retention policy: Delete); the
	// LeaderWorkerSet's own stay.
	var claims []string
	err = wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pvcs, err := e.C.Core.CoreV1().PersistentVolumeClaims(e.NS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		claims = nil
		for _, c := range pvcs.Items {
			if c.DeletionTimestamp == nil {
				claims = append(claims, c.Name)
			}
		}
		return !strings.Contains(strings.Join(claims, " "), "-surge"), nil
	})
	if err != nil || len(claims) != 2 {
		t.Errorf("claims after the surge: %v (%v), want the LeaderWorkerSet's 2 and none of the copy's", claims, err)
	}
}

// ruleOf is the name of the route rule whose name contains part.
func (e *env) ruleOf(part string) string {
	e.T.Helper()
	routes, err := e.C.Dynamic.Resource(routesGVR).Namespace(e.NS).List(e.T.Context(), metav1.ListOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	for _, r := range routes.Items {
		rules, _, _ := unstructured.NestedSlice(r.Object, "spec", "rules")
		for _, x := range rules {
			if name, _ := x.(map[string]any)["name"].(string); strings.Contains(name, part) {
				return name
			}
		}
	}
	e.T.Fatalf("no route rule names %q", part)
	return ""
}
