package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"

	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/workload"
)

// WaitOptions configures Wait.
type WaitOptions struct {
	Timeout     time.Duration
	Interval    time.Duration
	Concurrency int
	// Unschedulable is how long a pod must have been unschedulable before
	// the wait gives up on it with the scheduler's reason.
	Unschedulable time.Duration
}

// DefaultWaitOptions returns the defaults: model servers take minutes to load
// their weights.
func DefaultWaitOptions() WaitOptions {
	return WaitOptions{Timeout: 15 * time.Minute, Interval: 2 * time.Second, Concurrency: 16, Unschedulable: 30 * time.Second}
}

// Health is one object's readiness.
type Health struct {
	ID      manifest.ID
	Ready   bool
	Message string
	// Unschedulable: the scheduler cannot place its pods (Message says why);
	// waiting longer will not help.
	Unschedulable bool
	// Failing: a container of its pods fails to start (crash loop, OOM
	// kill, an image that cannot be pulled); Message says why. Waiting
	// longer will not help either.
	Failing bool
}

// WaitProgress receives an object's health each time its message changes.
type WaitProgress interface{ Health(Health) }

func (NoProgress) Health(Health) {}

// ErrNotHealthy is returned when objects are not ready within the timeout.
var ErrNotHealthy = errors.New("not healthy")

// ErrUnschedulable is returned as soon as a workload's pods cannot be
// placed on any node, with the scheduler's reason.
var ErrUnschedulable = errors.New("cannot be scheduled")

// ErrFailing is returned as soon as a workload's pods fail to start, with
// the kubelet's reason.
var ErrFailing = errors.New("fails to start")

// Wait polls the objects until every one is ready, or the timeout passes.
func (m *Manager) Wait(ctx context.Context, objs []*unstructured.Unstructured, opts WaitOptions, progress WaitProgress) error {
	last := map[manifest.ID]Health{}
	pending := objs
	err := wait.PollUntilContextTimeout(ctx, opts.Interval, opts.Timeout, true, func(ctx context.Context) (bool, error) {
		hs := make([]Health, len(pending))
		errs := make([]error, len(pending))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(opts.Concurrency)
		for i, u := range pending {
			g.Go(func() error {
				hs[i], errs[i] = m.healthOf(gctx, u, opts.Unschedulable)
				return nil
			})
		}
		_ = g.Wait()
		var still []*unstructured.Unstructured
		for i, h := range hs {
			if errs[i] != nil { // a failed read is retried until the timeout
				id := manifest.IDOf(pending[i])
				if _, seen := last[id]; !seen {
					last[id] = Health{ID: id, Message: "could not be read: " + errs[i].Error()}
				}
				still = append(still, pending[i])
				continue
			}
			if last[h.ID] != h {
				progress.Health(h)
			}
			last[h.ID] = h
			if !h.Ready {
				still = append(still, pending[i])
			}
		}
		pending = still
		var stuck, failing []string
		for _, u := range pending {
			switch h := last[manifest.IDOf(u)]; {
			case h.Unschedulable:
				stuck = append(stuck, h.ID.String()+": "+h.Message)
			case h.Failing:
				failing = append(failing, h.ID.String()+": "+h.Message)
			}
		}
		if len(stuck) > 0 {
			return false, fmt.Errorf("%w:\n  %s", ErrUnschedulable, strings.Join(stuck, "\n  "))
		}
		if len(failing) > 0 {
			return false, fmt.Errorf("%w:\n  %s", ErrFailing, strings.Join(failing, "\n  "))
		}
		return len(pending) == 0, nil
	})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil { // the run was stopped, not the wait timed out
		return ctx.Err()
	}
	if len(pending) == 0 || !wait.Interrupted(err) {
		return err
	}
	lines := make([]string, len(pending))
	for i, u := range pending {
		id := manifest.IDOf(u)
		lines[i] = id.String() + ": " + last[id].Message
	}
	return fmt.Errorf("%w after %s:\n  %s", ErrNotHealthy, opts.Timeout, strings.Join(lines, "\n  "))
}

func (m *Manager) healthOf(ctx context.Context, obj *unstructured.Unstructured, settled time.Duration) (Health, error) {
	id := manifest.IDOf(obj)
	res, err := m.clients.Resource(obj.GroupVersionKind(), id.Namespace)
	if err != nil {
		return Health{}, err
	}
	u, err := res.Get(ctx, id.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Health{ID: id, Message: "not found"}, nil
	}
	if err != nil {
		return Health{}, fmt.Errorf("%s: %w", id, err)
	}
	ready, msg := workload.Ready(u)
	h := Health{ID: id, Ready: ready, Message: msg}
	if !ready {
		pods, err := m.podsOf(ctx, u)
		if err != nil {
			return Health{}, err
		}
		if why := workload.Unschedulable(pods, settled); why != "" {
			h.Message, h.Unschedulable = why, true
			return h, nil
		}
		if why := workload.Failing(pods); why != "" {
			h.Message, h.Failing = why, true
		}
	}
	return h, nil
}

// waitReady waits, within their rollout budget, until objs are ready: the
// step a sync or prune takes before it relies on what it just created.
func (m *Manager) waitReady(ctx context.Context, objs []*unstructured.Unstructured) error {
	opts := DefaultWaitOptions()
	opts.Timeout = workload.RolloutBudget(objs, opts.Timeout).Timeout
	return m.Wait(ctx, objs, opts, NoProgress{})
}

// podsOf are a workload's pods (by workload.PodLabels: a LeaderWorkerSet's
// by its controller's name label); none for anything else.
func (m *Manager) podsOf(ctx context.Context, u *unstructured.Unstructured) ([]unstructured.Unstructured, error) {
	match := workload.PodLabels(u)
	if len(match) == 0 {
		return nil, nil
	}
	pods, err := m.clients.Reader().List(ctx, corev1.SchemeGroupVersion.WithKind("Pod"), u.GetNamespace(), labels.SelectorFromSet(match).String())
	if err != nil {
		return nil, fmt.Errorf("list the pods of %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return pods, nil
}
