package live_test

import (
	"context"
	"maps"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/sync"
)

// TestSwitchToVariantsKeepsServing: a Model switched to variants gets new
// StatefulSets and a Service selecting them by service-group. The Service
// moves only once the new pods are ready; until then it keeps selecting the
// old StatefulSet's pods, which stay until the approved prune.
func TestSwitchToVariantsKeepsServing(t *testing.T) {
	e := newEnv(t)
	files := fstest.MapFS{}
	for name, f := range kubetest.RepoTree(t) {
		if !strings.HasPrefix(name, "models-config/models/") || strings.HasSuffix(name, "/qwen3-embedding-8b.yaml") {
			files[name] = f
		}
	}
	if err := e.syncAndWait(files, waitOptions()); err != nil {
		t.Fatalf("first rollout: %v", err)
	}
	const svc, variant = "qwen3-embedding-8b-vllm-inference", "qwen3-embedding-8b-vllm-inference-a"
	model := "models-config/models/qwen3-embedding-8b.yaml"
	files[model] = &fstest.MapFile{Data: []byte(string(files[model].Data) + "    variants:\n    - name: a\n      gpus: 1\n")}

	// Watch, while the sync runs, when the variant's pod is ready and when
	// the Service's selector changes.
	var readyAt, movedAt time.Time
	ctx, stop := context.WithCancel(t.Context())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		before := map[string]string{"app": svc}
		for ctx.Err() == nil {
			if s, err := e.C.Core.AppsV1().StatefulSets(e.NS).Get(ctx, variant, metav1.GetOptions{}); err == nil && s.Status.ReadyReplicas > 0 && readyAt.IsZero() {
				readyAt = time.Now()
			}
			if s, err := e.C.Core.CoreV1().Services(e.NS).Get(ctx, svc, metav1.GetOptions{}); err == nil && !maps.Equal(s.Spec.Selector, before) && movedAt.IsZero() {
				movedAt = time.Now()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	res, _ := e.Plan(files)
	rep, err := e.m.Apply(t.Context(), res, "rev", sync.DefaultOptions(), sync.NoProgress{})
	time.Sleep(200 * time.Millisecond)
	stop()
	<-watched
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Moved) != 1 || !strings.Contains(rep.Moved[0], "Service "+svc) {
		t.Errorf("the Service was not held back: moved %v", rep.Moved)
	}
	switch {
	case movedAt.IsZero() || readyAt.IsZero():
		t.Errorf("the selector moved at %v, the variant was ready at %v", movedAt, readyAt)
	case movedAt.Before(readyAt):
		t.Errorf("the Service left the serving pods %v before the variant's pod was ready", readyAt.Sub(movedAt))
	}
	if _, err := e.C.Core.AppsV1().StatefulSets(e.NS).Get(t.Context(), svc, metav1.GetOptions{}); err != nil {
		t.Errorf("the old StatefulSet is gone before the prune: %v", err)
	}
}
