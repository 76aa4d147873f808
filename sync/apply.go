package sync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/inventory"
)

// Options configures Apply.
type Options struct {
	// Adopt takes objects that exist without our label into the set.
	Adopt bool
	// Concurrency bounds the apply requests in flight within one kind rank.
	Concurrency int
	// AllowEmpty syncs an empty desired set; without it the sync is refused
	// (a wrong path, not an intent).
	AllowEmpty bool
	// Fence is confirmed before every write batch and held before every
	// write (the run's Lease).
	Fence Fence
	// Tree names the tree synced (manifest.Tree.ID), recorded on the
	// inventory; a namespace recorded as another tree's is refused.
	Tree string
	// TakeOver hands a namespace recorded as another tree's to this one.
	TakeOver bool
	// History tells whether the revision synced comes after the newest one
	// a sync of the namespace began at (backwards); nil checks nothing.
	History History
	// AllowRollback syncs a revision that goes back in History (sync
	// --allow-rollback): the parent counts it, and every approval of a plan
	// made before it goes stale.
	AllowRollback bool
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options { return Options{Concurrency: 16, Fence: Unfenced{}} }

// Applied is one object written by Apply.
type Applied struct {
	Change diff.Change
	Err    error

	uid, record string // of the stored object, for the Verified record
}

// Report is what Apply did.
type Report struct {
	Applied   []Applied
	Unchanged int
	// Held are the objects not written because they point at an object of
	// the tree that is being deleted (holdDangling).
	Held []string
	// Copies say what became of surge copies a sync that did not finish
	// left (settleCopies).
	Copies []string
	// Moved are the Services written only once the pods their new
	// selector picks were ready.
	Moved []string
}

// Progress receives one call per object as it is applied.
type Progress interface{ Applied(Applied) }

// NoProgress discards progress.
type NoProgress struct{}

func (NoProgress) Applied(Applied) {}

// ErrRefused is returned when the plan holds objects the sync must not write.
var ErrRefused = errors.New("sync refused")

// Apply writes the plan's creations and changes in dependency order. The
// inventory is widened first, so an interrupted sync leaves every created
// object findable; revision is recorded once everything applied.
func (m *Manager) Apply(ctx context.Context, res *diff.Result, revision string, opts Options, progress Progress) (Report, error) {
	widened, err := m.begin(ctx, res, revision, opts)
	if err != nil {
		return Report{}, err
	}
	var rep Report
	if rep.Copies, err = m.settleCopies(ctx, res, opts.Fence); err != nil {
		return rep, err
	}
	var writes []diff.Prediction
	for _, p := range res.Predictions {
		switch p.Change.Action {
		case diff.Create, diff.Update, diff.Conflict, diff.Adopt:
			writes = append(writes, p)
		default:
			rep.Unchanged++
		}
	}
	writes, held := holdDangling(writes, res.Predictions)
	rep.Held = held
	if err := m.writeAll(ctx, res, writes, opts, progress, &rep); err != nil {
		return rep, err
	}
	resized, err := m.resizeClaims(ctx, res, opts, progress)
	rep.Applied = append(rep.Applied, resized...)
	if err != nil {
		return rep, fmt.Errorf("a claim smaller than its StatefulSet's template could not be resized: %w", err)
	}
	if len(held) > 0 {
		return rep, fmt.Errorf("%w: %d object(s) not written, so the models they serve are not served yet; revision %s is not recorded as synced: run sync again once the objects being deleted are gone:\n  %s",
			ErrHeldBack, len(held), revision, strings.Join(held, "\n  "))
	}
	done := inventory.Parent{GroupKinds: res.GroupKinds, Revision: revision, SyncedAt: inventory.Now(), Verified: verified(res, rep), Secrets: res.Secrets(nil), Fence: opts.Fence.Token(),
		Tree: widened.Tree, Began: revision, Rollbacks: widened.Rollbacks}
	if err := opts.Fence.Confirm(ctx); err != nil {
		return rep, err
	}
	if err := m.inv.Update(ctx, m.clients, done); err != nil {
		return rep, err
	}
	return rep, nil
}

// begin refuses what must not be synced (errors, another tree, a rollback
// not allowed) and records, before any write, that a sync of revision
// began, widening the inventory to every kind the plan writes.
func (m *Manager) begin(ctx context.Context, res *diff.Result, revision string, opts Options) (inventory.Parent, error) {
	if err := refusals(res, opts); err != nil {
		return inventory.Parent{}, err
	}
	if !opts.TakeOver {
		if err := OwnTree(res.Parent, opts.Tree); err != nil {
			return inventory.Parent{}, err
		}
	}
	rollback, err := backwards(res.Parent, revision, opts)
	if err != nil {
		return inventory.Parent{}, err
	}
	widened := res.Parent // its Verified record stays true: each entry is a fact about one object state
	widened.Tree = cmp.Or(opts.Tree, widened.Tree)
	widened.Began = revision
	if rollback {
		widened.Rollbacks++
	}
	widened.GroupKinds, widened.Secrets, widened.Fence = res.GroupKinds, inventory.SecretNames(append(res.Secrets(nil), res.Parent.Secrets...)), opts.Fence.Token()
	if err := opts.Fence.Confirm(ctx); err != nil {
		return inventory.Parent{}, err
	}
	return widened, m.inv.Update(ctx, m.clients, widened)
}

// writeAll applies writes rank by rank (each rank in parallel), then the
// objects held until the workloads they move traffic to are ready.
func (m *Manager) writeAll(ctx context.Context, res *diff.Result, writes []diff.Prediction, opts Options, progress Progress, rep *Report) error {
	writes, moves := holdSelectors(writes)
	for _, batch := range byRank(writes, orderOf(res).applyRank) {
		if err := opts.Fence.Confirm(ctx); err != nil {
			return err
		}
		applied, err := inParallel(ctx, batch, opts.Concurrency, func(ctx context.Context, p diff.Prediction) Applied {
			if err := opts.Fence.Hold(ctx); err != nil {
				return Applied{Change: p.Change, Err: err}
			}
			return m.applyOne(ctx, p, opts.Fence)
		}, progress.Applied)
		rep.Applied = append(rep.Applied, applied...)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("stopped (%w) after %d of %d objects applied: what was applied is in the inventory; rerun sync to finish: %w", ctx.Err(), appliedCount(*rep), len(writes), err)
			}
			return interrupted(*rep, err, m.clients.Config.Host, len(writes))
		}
	}
	for _, h := range moves {
		a := m.moveSelector(ctx, h, opts)
		progress.Applied(a)
		rep.Applied = append(rep.Applied, a)
		if a.Err != nil {
			return a.Err
		}
		rep.Moved = append(rep.Moved, fmt.Sprintf("%s %s once the %d workload(s) it moves to were ready", h.service.Object.GetKind(), h.service.Object.GetName(), len(h.workloads)))
	}
	return nil
}

// verified is the record of a completed sync: the fingerprint of every
// desired object, as applied or as found unchanged.
func verified(res *diff.Result, rep Report) map[string]string {
	out := map[string]string{}
	for _, p := range res.Predictions {
		if p.Change.Action == diff.Unchanged && p.Record != "" {
			out[string(p.Live.GetUID())] = p.Record
		}
	}
	for _, a := range rep.Applied {
		if a.record != "" {
			out[a.uid] = a.record
		}
	}
	return out
}

// applyRank orders by kind; within a kind, an object giving entries
// to another of its group (a route shard) goes after the one receiving them,
// so the moved rule always routes.
func (o order) applyRank(p diff.Prediction) int {
	r := 2 * o.rank(p.Object.GetKind())
	for _, m := range p.Moves {
		if m.Gives() {
			return r + 1
		}
	}
	return r
}

// ErrNotInSet: an object of the tree exists outside the set; sync takes it
// only when told to adopt.
var ErrNotInSet = errors.New("not in the set")

// ErrEmptyTree refuses a sync of an empty desired set.
var ErrEmptyTree = errors.New("the desired set is empty")

func refusals(res *diff.Result, opts Options) error {
	p := res.Plan
	if len(res.Predictions) == 0 && !opts.AllowEmpty {
		return fmt.Errorf("%w, nothing was written: the tree holds no objects (%d members of the inventory would all await pruning)", ErrEmptyTree, len(res.Members))
	}
	var errs []error
	for _, ch := range p.Changes {
		switch {
		case ch.Action == diff.Error:
			errs = append(errs, fmt.Errorf("%s %s (%s): %s", ch.Kind, ch.Name, ch.Origin, ch.Message))
		case ch.Action == diff.Adopt && !opts.Adopt:
			errs = append(errs, fmt.Errorf("%w: %s %s (%s) exists but is not managed by modelsync; adopt it, or rename it", ErrNotInSet, ch.Kind, ch.Name, ch.Origin))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w, nothing was written: %w", ErrRefused, errors.Join(errs...))
	}
	return nil
}

func (m *Manager) applyOne(ctx context.Context, p diff.Prediction, fence Fence) Applied {
	done := Applied{Change: p.Change}
	if (p.Change.Action == diff.Adopt || len(p.Change.TakeFrom) > 0) && p.Live != nil {
		if _, err := m.takeOver(ctx, p.Live, p.Change.TakeFrom); err != nil {
			done.Err = fmt.Errorf("%s (%s): %w", p.Object.ID(), p.Object.Origin, err)
			return done
		}
	}
	if p.Handover && p.Live != nil {
		if err := m.handOver(ctx, p.Live); err != nil {
			done.Err = fmt.Errorf("%s (%s): hand spec.replicas over to its autoscaler: %w", p.Object.ID(), p.Object.Origin, err)
			return done
		}
	}
	apply := m.apply
	if p.Surge {
		apply = func(ctx context.Context, _ *unstructured.Unstructured, fence Fence) (*unstructured.Unstructured, error) {
			return m.surged(ctx, p, fence)
		}
	}
	stored, err := apply(ctx, p.Applied, fence)
	if err != nil {
		err = diff.RedactSecret(p.Applied.GroupVersionKind().GroupKind(), err)
		done.Err = fmt.Errorf("%s (%s): apply: %w", p.Object.ID(), p.Object.Origin, err)
		return done
	}
	done.uid, done.record = string(stored.GetUID()), diff.Record(p.Applied, stored)
	return done
}

// interrupted summarizes a sync stopped by a lost connection: one cause
// instead of one error per object, and what to do.
func interrupted(rep Report, err error, host string, total int) error {
	var failed []string
	var cause error
	for _, a := range rep.Applied {
		if a.Err == nil {
			continue
		}
		if !cluster.IsUnreachable(a.Err) {
			return err
		}
		failed = append(failed, a.Change.Kind+" "+a.Change.Name)
		cause = a.Err
	}
	for u := errors.Unwrap(cause); u != nil; u = errors.Unwrap(u) {
		cause = u
	}
	return fmt.Errorf("lost the API server at %s (%v): %d of %d objects applied; failed: %s. "+
		"What was applied is in the inventory: rerun sync when the API server is back",
		host, cause, len(rep.Applied)-len(failed), total, strings.Join(failed, ", "))
}

// ErrOtherTree: the namespace is synced from another tree; nothing was changed.
var ErrOtherTree = errors.New("the namespace belongs to another tree")

// OwnTree refuses a plan, sync or prune of tree on a namespace whose
// inventory records another tree: the two trees would plan each other's
// models as removed. A namespace without a recorded tree, or a tree
// without an ID (not in a git repository with an origin), passes.
func OwnTree(p inventory.Parent, tree string) error {
	if p.Tree == "" || tree == "" || p.Tree == tree {
		return nil
	}
	return fmt.Errorf("%w, nothing was changed: it is synced from %s, and this is %s; "+
		"a namespace holds one tree, so each would remove the other's models. Choose another namespace, or, to hand "+
		"the namespace to this tree, run sync --take-over-namespace once", ErrOtherTree, p.Tree, tree)
}

// handOver gives spec.replicas of live, a workload an autoscaler of the tree
// scales, to inventory.HandoverManager at the live count, as Kubernetes
// documents for handing replicas to an HPA: applied after it without the
// field, modelsync's configuration then leaves the count as it is, since
// another manager still holds it. Not forced: a count changed since the read
// is a conflict, and the sync stops there rather than write an old count.
func (m *Manager) handOver(ctx context.Context, live *unstructured.Unstructured) error {
	replicas, _, _ := unstructured.NestedFieldCopy(live.Object, "spec", "replicas")
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": live.GetAPIVersion(), "kind": live.GetKind(),
		"metadata": map[string]any{"name": live.GetName(), "namespace": live.GetNamespace()},
		"spec":     map[string]any{"replicas": replicas},
	}}
	_, err := m.clients.Apply(ctx, u, cluster.ApplyOptions{FieldManager: inventory.HandoverManager})
	return err
}

// appliedCount counts the writes that succeeded.
func appliedCount(rep Report) int {
	n := 0
	for _, a := range rep.Applied {
		if a.Err == nil {
			n++
		}
	}
	return n
}
