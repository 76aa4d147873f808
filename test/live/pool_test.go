package live_test

import (
	"strings"
	"testing"
	"time"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/sync"
)

// A model behind an InferencePool whose image changes, with room for a
// copy: the copy's pods carry the model's pod labels, so the pool's
// selector takes them in as soon as they are ready, and the pool always
// selects a ready pod while the StatefulSet restarts behind the copy.
func TestPoolModelImageChangeWithRoomSurges(t *testing.T) {
	e := newEnv(t)
	files, model := treeWithOnly(t, "qwen3-32b.yaml", loadsIn3s)
	if got := string(files[model].Data); !strings.Contains(got, "ready-delay") || !strings.Contains(got, "pool: {}") {
		t.Fatal("the Qwen3-32B Model is not the pool model with 4 GPUs this test changes")
	}
	if err := e.syncAndWait(files, waitOptions()); err != nil {
		t.Fatalf("first rollout of the pool model: %v", err)
	}
	rule := e.ruleOf("qwen3-32b")
	if why := e.serving(t.Context(), rule); why != "" {
		t.Fatalf("the pool model does not serve after the first sync: %s", why)
	}

	// In place, as before: the pool is left with no ready pod while the
	// only one restarts; the prober sees it.
	withImage(files, model, "vllm/vllm-openai:v0.11.3")
	inPlace, _ := e.Plan(files)
	for i := range inPlace.Predictions {
		inPlace.Predictions[i].Surge = false
	}
	p := e.probe(rule)
	if _, err := e.m.Apply(t.Context(), inPlace, "rev", sync.DefaultOptions(), sync.NoProgress{}); err != nil {
		t.Fatal(err)
	}
	e.waitServingImage("qwen3-32b-vllm-inference", "vllm/vllm-openai:v0.11.3")
	time.Sleep(time.Second)
	p.Stop()
	t.Logf("availability prober, a pool model's image change rolled in place: %s", p)
	if p.down == 0 {
		t.Errorf("the in-place update was never down: the prober does not see the pool's pods restart")
	}

	withImage(files, model, "vllm/vllm-openai:v0.11.4")
	p = e.probe(rule)
	res, err := e.update(files)
	time.Sleep(time.Second)
	p.Stop()
	t.Logf("availability prober, a pool model's image change with room (surge): %s", p)
	if err != nil {
		t.Fatalf("the surged update: %v", err)
	}
	if mode := modeOf(res, "qwen3-32b"); mode != diff.Surge {
		t.Fatalf("the plan's mode for the pool model with room: %q, want surge", mode)
	}
	if p.down != 0 {
		t.Errorf("the pool selected no ready pod for %d of %d samples during the surged update, want 0", p.down, p.samples)
	}
	e.waitServingImage("qwen3-32b-vllm-inference", "vllm/vllm-openai:v0.11.4")
}
