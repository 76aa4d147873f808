package live_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"modelsync.dev/modelsync/internal/controlplane"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/sync"
)

// TestUpdateSoak checks the update promise over seeded random schedules on
// the simulated cluster: image changes, revisions that crash-loop, reverts
// to any earlier commit, syncs cut off at a random moment, the room for a
// surge taken and given back, and approvals of pending recreates, with the
// availability prober running throughout. The invariant: a model the tree
// wants that was serving is never left without a ready backend, except by
// an approved recreate. After the schedule the head converges and serves.
// MODELSYNC_UPDATE_SOAK_SEEDS (default 2) and _STEPS (default 12) make it
// longer; MODELSYNC_UPDATE_SOAK_SEED=<n> replays one.
func TestUpdateSoak(t *testing.T) {
	seeds, steps := kubetest.Schedule("MODELSYNC_UPDATE_SOAK", 2, 12)
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runUpdateSoak(t, seed, steps) })
	}
}

const (
	soakModel = "models-config/models/minimax.yaml"
	soakRule  = "minimax-m2.5"
)

type updateSoak struct {
	e        *env
	t        *testing.T
	rng      *rand.Rand
	commits  []fstest.MapFS
	schedule []string
	filled   bool
	p        *prober
}

func (s *updateSoak) logf(format string, args ...any) {
	s.schedule = append(s.schedule, fmt.Sprintf(format, args...))
}

func (s *updateSoak) fail(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("%s\nprober: %s\nschedule (seed reproduces it):\n  %s", fmt.Sprintf(format, args...), s.p, strings.Join(s.schedule, "\n  "))
}

func (s *updateSoak) head() fstest.MapFS { return s.commits[len(s.commits)-1] }

// commit makes the next revision with the model's server lines replaced.
func (s *updateSoak) commit(image, annotation string) {
	next := fstest.MapFS{}
	for k, v := range s.commits[0] {
		next[k] = &fstest.MapFile{Data: v.Data}
	}
	server := "    image: " + image + "\n    podAnnotations:\n      modelsync.dev/ready-delay: 2s\n"
	if annotation != "" {
		server += "      " + controlplane.FailAnnotation + ": " + annotation + "\n"
	}
	next[soakModel] = &fstest.MapFile{Data: []byte(strings.Replace(string(next[soakModel].Data), "    image: vllm/vllm-openai:v0.11.2\n", server, 1))}
	s.commits = append(s.commits, next)
}

func runUpdateSoak(t *testing.T, seed uint64, steps int) {
	e := newEnv(t)
	s := &updateSoak{e: e, t: t, rng: rand.New(rand.NewPCG(seed, 0x0b5e7)), commits: []fstest.MapFS{kubetest.RepoTree(t)}}
	s.commit("vllm/vllm-openai:v0.11.2", "")
	if err := e.syncAndWait(s.head(), waitOptions()); err != nil {
		t.Fatal(err)
	}
	s.p = e.probe(soakRule)
	for range steps {
		switch s.rng.IntN(6) {
		case 0:
			s.commit(fmt.Sprintf("vllm/vllm-openai:v0.12.%d", s.rng.IntN(100)), "")
			s.logf("commit r%d: a new image", len(s.commits)-1)
			s.sync(nil)
		case 1:
			s.commit(fmt.Sprintf("vllm/vllm-openai:v0.13.%d", s.rng.IntN(100)), []string{"CrashLoopBackOff", "OOMKilled", "ImagePullBackOff"}[s.rng.IntN(3)])
			s.logf("commit r%d: a revision that fails to start", len(s.commits)-1)
			s.sync(nil)
		case 2:
			i := s.rng.IntN(len(s.commits))
			s.commits = append(s.commits, s.commits[i])
			s.logf("commit r%d: revert to r%d", len(s.commits)-1, i)
			s.sync(nil)
		case 3:
			d := time.Duration(500+s.rng.IntN(3000)) * time.Millisecond
			ctx, cancel := context.WithTimeout(s.t.Context(), d)
			s.logf("sync cut off after %s", d)
			s.sync(ctx)
			cancel()
		case 4:
			s.room()
		case 5:
			s.approve()
		}
	}
	// Convergence: room given back, the head synced, pending recreates
	// approved; the model serves the head's image.
	if s.filled {
		s.room()
	}
	s.sync(nil)
	s.approve()
	s.sync(nil)
	time.Sleep(time.Second)
	s.p.Stop()
	t.Logf("schedule:\n  %s", strings.Join(s.schedule, "\n  "))
	t.Logf("update soak: seed %d: %d steps; prober %s; violations: %d", seed, steps, s.p, s.p.down)
	if s.p.down != 0 {
		s.fail("the model was without a ready backend for %d samples outside an approved recreate", s.p.down)
	}
	if why := e.serving(t.Context(), soakRule); why != "" {
		s.fail("after the schedule the model does not serve: %s", why)
	}
}

// sync runs the head's sync job (cut off when ctx ends). Refusals it may
// meet: a new revision that did not start, or a stopped run.
func (s *updateSoak) sync(ctx context.Context) {
	if ctx == nil {
		ctx = s.t.Context()
	}
	res, _ := s.e.Plan(s.head())
	_, err := s.e.m.Apply(ctx, res, "rev", sync.DefaultOptions(), sync.NoProgress{})
	s.logf("  sync: %s", kubetest.FirstLine(err))
	if err != nil && !errors.Is(err, sync.ErrNotStarted) && ctx.Err() == nil {
		s.fail("sync: %v", err)
	}
}

// approve runs the prune job for the head's plan: its pending recreates go
// down, excused, for as long as they start.
func (s *updateSoak) approve() {
	res, _ := s.e.Plan(s.head())
	if len(res.Plan.Removals()) == 0 {
		return
	}
	s.p.approved.Store(true)
	now, _ := s.e.Plan(s.head())
	_, err := s.e.m.Prune(s.t.Context(), res.Plan, now, sync.DefaultPruneOptions(), sync.NoProgress{})
	if s.e.serving(s.t.Context(), soakRule) == "" {
		s.p.approved.Store(false)
	} else {
		s.p.untilServing.Store(true) // the approved revision does not start
	}
	s.logf("approve the head's plan: %s", kubetest.FirstLine(err))
	if err != nil && !errors.Is(err, sync.ErrStalePlan) && !errors.Is(err, sync.ErrPartial) {
		s.fail("prune: %v", err)
	}
}

// room takes the cluster's free A100s with another team's pod, or gives
// them back: without room an update is a recreate.
func (s *updateSoak) room() {
	if s.filled {
		err := s.e.C.Core.CoreV1().Pods(s.e.NS).Delete(s.t.Context(), "filler", metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		if err != nil && !apierrors.IsNotFound(err) {
			s.t.Fatal(err)
		}
		s.filled = false
		s.logf("room given back")
		return
	}
	var tolerations []corev1.Toleration
	if sts, err := s.e.C.Core.AppsV1().StatefulSets(s.e.NS).Get(s.t.Context(), "minimax-vllm-inference", metav1.GetOptions{}); err == nil {
		tolerations = sts.Spec.Template.Spec.Tolerations
	}
	s.e.fill("nvidia.com/a100", 4, tolerations, false) // placed once the GPUs are free
	s.filled = true
	s.logf("room taken")
}
