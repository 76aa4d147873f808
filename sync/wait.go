package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"modelsync.dev/modelsync/manifest"
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
}

// WaitProgress receives an object's health each time its message changes.
type WaitProgress interface{ Health(Health) }

func (NoProgress) Health(Health) {}

// ErrNotHealthy is returned when objects are not ready within the timeout.
var ErrNotHealthy = errors.New("not healthy")

// ErrUnschedulable is returned as soon as a workload's pods cannot be
// placed on any node, with the scheduler's reason.
var ErrUnschedulable = errors.New("cannot be scheduled")

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
		var stuck []string
		for _, u := range pending {
			if h := last[manifest.IDOf(u)]; h.Unschedulable {
				stuck = append(stuck, h.ID.String()+": "+h.Message)
			}
		}
		if len(stuck) > 0 {
			return false, fmt.Errorf("%w:\n  %s", ErrUnschedulable, strings.Join(stuck, "\n  "))
		}
		return len(pending) == 0, nil
	})
	if err == nil {
		return nil
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
	ready, msg := Ready(u)
	h := Health{ID: id, Ready: ready, Message: msg}
	if !ready {
		why, err := Unschedulable(ctx, m.clients.Reader(), u, settled)
		if err != nil {
			return Health{}, err
		}
		if why != "" {
			h.Message, h.Unschedulable = why, true
		}
	}
	return h, nil
}

// waitReady waits, within their rollout budget, until objs are ready: the
// step a sync or prune takes before it relies on what it just created.
func (m *Manager) waitReady(ctx context.Context, objs []*unstructured.Unstructured) error {
	opts := DefaultWaitOptions()
	opts.Timeout = RolloutBudget(objs, opts.Timeout).Timeout
	return m.Wait(ctx, objs, opts, NoProgress{})
}

// Ready tells whether a live object is healthy, and why not: a StatefulSet
// or Deployment whose rollout finished; a custom resource whose Accepted and
// Ready conditions (its own, or per parent or ancestor as Gateway API
// policies report them) are all True for its current generation. Objects
// without either are ready once they exist.
func Ready(u *unstructured.Unstructured) (bool, string) {
	switch u.GetKind() {
	case "StatefulSet":
		return statefulSetReady(u)
	case "Deployment":
		return deploymentReady(u)
	case "LeaderWorkerSet":
		return leaderWorkerSetReady(u)
	}
	return conditionsReady(u)
}

func statefulSetReady(u *unstructured.Unstructured) (bool, string) {
	gen := u.GetGeneration()
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	replicas, found, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
	if !found {
		replicas = 1
	}
	ready, _, _ := unstructured.NestedInt64(u.Object, "status", "readyReplicas")
	updated, _, _ := unstructured.NestedInt64(u.Object, "status", "updatedReplicas")
	current, _, _ := unstructured.NestedString(u.Object, "status", "currentRevision")
	update, _, _ := unstructured.NestedString(u.Object, "status", "updateRevision")
	partition, _, _ := unstructured.NestedInt64(u.Object, "spec", "updateStrategy", "rollingUpdate", "partition")
	switch {
	case observed == 0 || observed < gen:
		return false, "waiting for the controller to observe generation " + fmt.Sprint(gen)
	case ready < replicas:
		return false, fmt.Sprintf("%d of %d pods ready", ready, replicas)
	case partition > 0 && updated < replicas-partition:
		return false, fmt.Sprintf("%d of %d pods updated (partition %d)", updated, replicas-partition, partition)
	case partition == 0 && update != "" && current != update:
		return false, fmt.Sprintf("rolling update: %d pods at revision %s", updated, update)
	}
	return true, fmt.Sprintf("%d of %d pods ready", ready, replicas)
}

// leaderWorkerSetReady: every group (leader and workers) ready and the
// controller reporting Available. A LeaderWorkerSet nobody reports on has no
// pods: without its controller it never becomes ready.
func leaderWorkerSetReady(u *unstructured.Unstructured) (bool, string) {
	replicas, found, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
	if !found {
		replicas = 1
	}
	ready, _, _ := unstructured.NestedInt64(u.Object, "status", "readyReplicas")
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	available := false
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Available" && m["status"] == "True" {
			available = true
		}
	}
	switch {
	case len(conds) == 0:
		return false, "no status yet: is the LeaderWorkerSet controller installed?"
	case ready < replicas || !available:
		return false, fmt.Sprintf("%d of %d groups ready", ready, replicas)
	}
	return true, fmt.Sprintf("%d of %d groups ready", ready, replicas)
}

func deploymentReady(u *unstructured.Unstructured) (bool, string) {
	gen := u.GetGeneration()
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	replicas, found, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
	if !found {
		replicas = 1
	}
	updated, _, _ := unstructured.NestedInt64(u.Object, "status", "updatedReplicas")
	available, _, _ := unstructured.NestedInt64(u.Object, "status", "availableReplicas")
	switch {
	case observed == 0 || observed < gen:
		return false, "waiting for the controller to observe generation " + fmt.Sprint(gen)
	case updated < replicas:
		return false, fmt.Sprintf("%d of %d replicas updated", updated, replicas)
	case available < replicas:
		return false, fmt.Sprintf("%d of %d replicas available", available, replicas)
	}
	return true, fmt.Sprintf("%d of %d replicas available", available, replicas)
}

// notCondition is how a False condition reads: a verdict of the controller,
// which waiting does not change.
var notCondition = map[string]string{"Accepted": "not accepted:", "Ready": "not ready:"}

// Refused reports whether Ready's message is a controller's verdict against
// the object (a condition False), not something still to come.
func Refused(message string) bool {
	for _, p := range notCondition {
		if strings.HasPrefix(message, p) {
			return true
		}
	}
	return false
}

// conditionsReady reads status.conditions, status.parents[].conditions and
// status.ancestors[].conditions.
func conditionsReady(u *unstructured.Unstructured) (bool, string) {
	var conds []map[string]any
	collect := func(list []any) {
		for _, c := range list {
			if m, ok := c.(map[string]any); ok {
				conds = append(conds, m)
			}
		}
	}
	own, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	collect(own)
	for _, field := range []string{"parents", "ancestors"} {
		entries, _, _ := unstructured.NestedSlice(u.Object, "status", field)
		for _, e := range entries {
			if m, ok := e.(map[string]any); ok {
				list, _, _ := unstructured.NestedSlice(m, "conditions")
				collect(list)
			}
		}
	}
	seen := 0
	for _, c := range conds {
		typ, _ := c["type"].(string)
		if typ != "Accepted" && typ != "Ready" {
			continue
		}
		seen++
		status, _ := c["status"].(string)
		if gen, ok := c["observedGeneration"].(int64); ok && gen < u.GetGeneration() {
			return false, fmt.Sprintf("%s: waiting for the controller to observe generation %d", typ, u.GetGeneration())
		}
		if status != "True" {
			reason, _ := c["reason"].(string)
			message, _ := c["message"].(string)
			if status == "False" {
				why := strings.TrimSpace(notCondition[typ] + " " + reason)
				if message != "" {
					why += ": " + message
				}
				return false, why
			}
			return false, strings.TrimSpace(fmt.Sprintf("%s=%s %s %s", typ, status, reason, message))
		}
	}
	if seen == 0 {
		return true, "exists"
	}
	return true, "accepted"
}
