package sync_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
)

type healthLog struct {
	sync.NoProgress
	lines chan string
}

func (h healthLog) Health(s sync.Health) {
	state := "waiting"
	if s.Ready {
		state = "healthy"
	}
	h.lines <- state + " " + s.ID.Kind + " " + s.ID.Name + ": " + s.Message
}

// The health wait follows a StatefulSet's rollout as its controller reports
// it (written here by hand: the test control plane runs no controllers).
func TestWaitFollowsStatefulSetRollout(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	e.sync(files, sync.DefaultOptions())
	sts := e.get(statefulSet, "minimax-vllm-inference")

	opts := sync.WaitOptions{Timeout: time.Second, Interval: 100 * time.Millisecond, Concurrency: 4}
	err := sync.NewManager(e.C, e.NS, inventory.DefaultName).Wait(t.Context(), []*unstructured.Unstructured{sts}, opts, sync.NoProgress{})
	if !errors.Is(err, sync.ErrNotHealthy) || !strings.Contains(err.Error(), "StatefulSet "+e.NS+"/minimax-vllm-inference: waiting for the controller to observe generation 1") {
		t.Fatalf("wait with no controller: %v", err)
	}

	log := healthLog{lines: make(chan string, 100)}
	opts.Timeout = 30 * time.Second
	done := make(chan error)
	go func() {
		done <- sync.NewManager(e.C, e.NS, inventory.DefaultName).Wait(t.Context(), []*unstructured.Unstructured{sts}, opts, log)
	}()
	if l := <-log.lines; !strings.HasPrefix(l, "waiting StatefulSet minimax-vllm-inference") {
		t.Errorf("first progress line %q", l)
	}
	setStatus(t, e, sts, map[string]any{"observedGeneration": 1, "replicas": 1, "readyReplicas": 0, "currentRevision": "r1", "updateRevision": "r1"})
	if l := <-log.lines; l != "waiting StatefulSet minimax-vllm-inference: 0 of 1 pods ready" {
		t.Errorf("progress %q", l)
	}
	setStatus(t, e, sts, map[string]any{"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1, "currentRevision": "r1", "updateRevision": "r1"})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l := <-log.lines; l != "healthy StatefulSet minimax-vllm-inference: 1 of 1 pods ready" {
		t.Errorf("last progress %q", l)
	}
}

func setStatus(t *testing.T, e *env, u *unstructured.Unstructured, status map[string]any) {
	t.Helper()
	cur := e.get(statefulSet, u.GetName())
	cur.Object["status"] = status
	if _, err := e.C.Dynamic.Resource(statefulSet).Namespace(e.NS).UpdateStatus(t.Context(), cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
