package live_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/sync"
)

var leaderWorkerSets = schema.GroupVersionResource{Group: "leaderworkerset.x-k8s.io", Version: "v1", Resource: "leaderworkersets"}

// A changed LeaderWorkerSet template rolls, as LWS rolls its groups, and a
// wait on it ends only once every pod of every group runs the new template:
// the LWS's readyReplicas counts groups of the old template too, so a wait
// that read only it would call the update done before it began.
func TestLeaderWorkerSetRollsAndTheWaitFollows(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	for name := range files {
		if strings.HasPrefix(name, "models-config/models/") {
			delete(files, name)
		}
	}
	glm, err := os.ReadFile(filepath.Join("..", "..", "models-config", "models", "glm-5.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files["models-config/models/glm-5.yaml"] = &fstest.MapFile{Data: glm}
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
