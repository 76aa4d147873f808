package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/tree/manifest"
)

// PruneOptions configures Prune.
type PruneOptions struct {
	// DeleteClaims also deletes the PersistentVolumeClaims the approved plan
	// lists for pruned StatefulSets; by default they are kept and reported.
	DeleteClaims bool
	// MaxPrunes is the most objects one prune deletes without AllowMass.
	MaxPrunes int
	// AllowMass lifts the mass-deletion guard: an empty desired set, more
	// than MaxPrunes objects, more than half of the set, or every member of
	// a kind.
	AllowMass bool
	// PruneNeverApplied deletes members that carry the set's label but that
	// modelsync never applied; without it such a prune is refused.
	PruneNeverApplied bool
	// Terminating is how long to wait for a deleted object to disappear
	// before reporting the finalizers that hold it.
	Terminating time.Duration
	// Concurrency bounds the requests in flight within one kind rank.
	Concurrency int
	// Fence is confirmed before every write batch and held before every
	// write (the run's Lease).
	Fence Fence
}

// DefaultPruneOptions returns the defaults.
func DefaultPruneOptions() PruneOptions {
	return PruneOptions{MaxPrunes: 25, Terminating: 30 * time.Second, Concurrency: 16, Fence: Unfenced{}}
}

// State is the outcome of one removal.
type State string

const (
	// Removed: this run deleted the object or removed the entries.
	Removed State = "removed"
	// Replaced: this run deleted the object and created it again, ready.
	Replaced State = "replaced"
	// AlreadyGone: removed before this run (an interrupted prune of the same
	// plan, or by hand).
	AlreadyGone State = "already gone"
	// StillTerminating: deleted, but finalizers hold it.
	StillTerminating State = "terminating"
	// Failed: the API server refused the removal, or it was no longer what
	// was approved.
	Failed State = "failed"
	// NotAttempted: something that stays still needs it.
	NotAttempted State = "not attempted"
)

// Pruned is one removal done (or tried, or held back) by Prune: an object,
// or the approved entries of one shared object.
type Pruned struct {
	Change diff.Change
	State  State
	// Entries are the removed entries of a shared object ("rule qwen3").
	Entries []string
	// Err says why it failed; Reason why it was not attempted.
	Err    error
	Reason string
	// Finalizers hold an object that is still terminating.
	Finalizers []string
	// Notes say what else the step did, or could not do: a replaced
	// StatefulSet's claims expanded, or why one keeps its size.
	Notes []string
}

// stays is whether the object (or the entries) still exists after the prune.
func (p Pruned) stays() bool { return p.State == Failed || p.State == NotAttempted }

// PruneReport is what Prune did.
type PruneReport struct {
	Pruned []Pruned
	// Claims are the PersistentVolumeClaims the plan lists for the pruned
	// StatefulSets: kept, or deleted with DeleteClaims.
	Claims        []string
	ClaimsDeleted bool
}

// Count tallies the report by state.
func (r PruneReport) Count() map[State]int {
	n := map[State]int{}
	for _, p := range r.Pruned {
		n[p.State]++
	}
	return n
}

// PruneProgress receives one call per removal.
type PruneProgress interface{ Pruned(Pruned) }

func (NoProgress) Pruned(Pruned) {}

// Typed outcomes.
var (
	// ErrStalePlan: the approved plan no longer describes the cluster; nothing was changed.
	ErrStalePlan = errors.New("the approved plan is stale")
	// ErrMassPrune: the guard refused; nothing was changed.
	ErrMassPrune = errors.New("mass deletion refused")
	// ErrNeverApplied: the plan deletes members modelsync never applied; nothing was changed.
	ErrNeverApplied = errors.New("members modelsync never applied")
	// ErrPartial: some removals failed or were held back; the rest is done
	// and the same approved plan finishes it.
	ErrPartial = errors.New("prune incomplete")
)

// Prune carries out the removals of the approved plan that are still
// pending (res is the plan computed now), in one walk in reverse apply
// order: traffic policies, routes, security policies, backends, workloads,
// Services; within a kind, entries of shared objects before deletions. Each
// removal is re-checked against what was approved just before its request,
// and the Lease is confirmed before each batch. A removal that fails stops
// what it still points at; the inventory keeps everything that still exists.
func (m *Manager) Prune(ctx context.Context, approved *diff.Plan, res *diff.Result, opts PruneOptions, progress PruneProgress) (PruneReport, error) {
	if !res.Whole() {
		if err := diff.New(m.clients.Reader(), m.inv.Namespace, diff.Options{Inventory: m.inv.Name, Concurrency: 16}).ReadWhole(ctx, res); err != nil {
			return PruneReport{}, fmt.Errorf("read the members whole: %w", err)
		}
	}
	ap, err := matchApproval(approved, res)
	if err != nil {
		return PruneReport{}, err
	}
	if err := guard(res, ap, opts); err != nil {
		return PruneReport{}, err
	}
	var rep PruneReport
	var reps []replacement
	reps, ap.done = replacements(ap, res)
	for _, ch := range ap.done {
		p := m.confirmGone(ctx, ch)
		progress.Pruned(p)
		rep.Pruned = append(rep.Pruned, p)
	}
	deps := newDependencies(res.Members)
	for _, batch := range slices.Backward(byRank(steps(ap.todo, reps, res), orderOf(res).stepRank)) {
		if err := opts.Fence.Confirm(ctx); err != nil {
			return rep, err
		}
		// Replacements go one at a time, each ready before the next, so a
		// change that touches every workload never has them all down at
		// once; a replacement that fails holds back the rest.
		batch, replaces := splitReplaces(batch)
		run := func(ctx context.Context, s step) Pruned { return m.pruneStep(ctx, deps, s, opts) }
		done, _ := inParallel(ctx, batch, opts.Concurrency, run, progress.Pruned)
		rep.Pruned = append(rep.Pruned, done...)
		held := ""
		for _, s := range replaces {
			p := Pruned{Change: s.replace.change, State: NotAttempted, Reason: held}
			if held == "" {
				p = run(ctx, s)
				if p.State == Failed {
					held = "replaced one at a time, and the replacement of " + s.replace.change.ID().String() + " failed"
				}
			}
			progress.Pruned(p)
			rep.Pruned = append(rep.Pruned, p)
		}
	}
	if err := opts.Fence.Confirm(ctx); err != nil {
		return rep, err
	}
	for _, p := range m.settleCatalogues(ctx, res, opts.Fence) {
		progress.Pruned(p)
		rep.Pruned = append(rep.Pruned, p)
	}
	var errs []error
	rep.Claims, rep.ClaimsDeleted, err = m.claims(ctx, rep.Pruned, opts.DeleteClaims)
	errs = append(errs, err, m.shrink(ctx, res, rep, opts.Fence))
	if n := rep.Count(); n[Failed]+n[NotAttempted] > 0 {
		errs = append(errs, fmt.Errorf("%w: %d removal(s) done, %d failed, %d not attempted because something that stays still needs them. "+
			"Everything not deleted stays in the inventory; fix the failures and run prune again with the same plan",
			ErrPartial, n[Removed]+n[Replaced]+n[AlreadyGone]+n[StillTerminating], n[Failed], n[NotAttempted]))
	}
	return rep, errors.Join(errs...)
}

// pruneStep carries out one step of a prune under the run's Lease: an entry
// written out of a shared object, a replacement or a deletion.
func (m *Manager) pruneStep(ctx context.Context, deps *dependencies, s step, opts PruneOptions) Pruned {
	if err := opts.Fence.Hold(ctx); err != nil {
		// The run lost its Lease: this step writes nothing, and the next
		// batch's Confirm stops the run.
		ch := s.delete
		switch {
		case s.write != nil:
			ch = s.write.owner
		case s.replace != nil:
			ch = s.replace.change
		}
		return Pruned{Change: ch, State: Failed, Err: err}
	}
	if s.write != nil {
		return m.writeStep(ctx, deps, *s.write, opts.Fence)
	}
	if s.replace != nil {
		return m.replaceStep(ctx, *s.replace, opts)
	}
	return m.deleteStep(ctx, deps, s.delete, opts)
}

// splitReplaces takes the replacements out of a batch, in order.
func splitReplaces(batch []step) (others, replaces []step) {
	for _, s := range batch {
		if s.replace != nil {
			replaces = append(replaces, s)
		} else {
			others = append(others, s)
		}
	}
	return others, replaces
}

// step is one removal request: the entries of one shared object, or one
// object's deletion.
type step struct {
	write   *entryWrite
	delete  diff.Change
	replace *replacement
}

// steps are the approved removals still to do.
func steps(todo []diff.Change, reps []replacement, res *diff.Result) []step {
	var out []step
	for _, w := range entryWrites(todo, res) {
		out = append(out, step{write: &w})
	}
	for _, ch := range todo {
		if ch.Action == diff.Prune {
			out = append(out, step{delete: ch})
		}
	}
	for _, r := range reps {
		out = append(out, step{replace: &r})
	}
	return out
}

// stepRank walks kinds in reverse apply order (prune takes the batches
// backwards): what points comes before what it points at, and within a kind
// the entries come before the deletions (a shard takes the rules of the
// shard being deleted first).
func (o order) stepRank(s step) int {
	if s.replace != nil {
		return 2 * o.rank(s.replace.change.Kind)
	}
	if s.write != nil {
		return 2*o.rank(s.write.owner.Kind) + 1
	}
	return 2 * o.rank(s.delete.Kind)
}

// writeStep removes the entries of one shared object. A policy's targetRef
// to an object that stays is held back: the object would lose its API key
// or retry policy while it still serves.
func (m *Manager) writeStep(ctx context.Context, deps *dependencies, w entryWrite, fence Fence) Pruned {
	var held []string
	var why string
	var keep []diff.Change
	for _, ch := range w.remove {
		if target, ok := gateway.TargetRefID(ch.Item.Key, ch.Namespace); ok && ch.Item.Noun == gateway.NounTargetRef {
			if r := deps.keptFor(target); r != "" {
				held, why = append(held, ch.Item.Noun+" "+ch.Item.Key), target.String()+" stays ("+r+")"
				continue
			}
		}
		keep = append(keep, ch)
	}
	w.remove = keep
	if len(held) > 0 && len(w.remove) == 0 && len(w.moveIn) == 0 {
		return Pruned{Change: w.owner, State: NotAttempted, Entries: held, Reason: why}
	}
	p := m.removeEntries(ctx, w, fence)
	if p.stays() {
		deps.stays(w.owner.ID(), w.keys(), p.Change.ID().String()+": the removal of "+strings.Join(p.Entries, ", ")+" failed")
		for _, from := range w.from() {
			deps.mustStay(from, "it still holds entries "+w.owner.ID().String()+" could not take")
		}
	}
	if len(held) > 0 && p.State != Failed {
		p.State, p.Reason = NotAttempted, "held back "+strings.Join(held, ", ")+" ("+why+"); "+p.Change.Message
	}
	return p
}

// shrink narrows the parent's group-kinds to what is left: the desired
// objects and the members not deleted (kept, failed, held back, or still
// terminating).
func (m *Manager) shrink(ctx context.Context, res *diff.Result, rep PruneReport, fence Fence) error {
	gone := map[manifest.ID]bool{}
	for _, p := range rep.Pruned {
		if p.Change.Action == diff.Prune && (p.State == Removed || p.State == AlreadyGone) {
			gone[p.Change.ID()] = true
		}
	}
	var gks []schema.GroupKind
	for _, p := range res.Predictions {
		gks = append(gks, p.Object.GroupVersionKind().GroupKind())
	}
	for i := range res.Members {
		if id := manifest.IDOf(&res.Members[i]); !gone[id] {
			gks = append(gks, id.GroupKind())
		}
	}
	parent := res.Parent
	parent.GroupKinds, parent.Fence = gks, fence.Token()
	parent.Secrets = res.Secrets(func(id manifest.ID) bool { return gone[id] })
	return m.inv.Update(ctx, m.clients, parent)
}

// confirmGone checks, by uid, that an approved object removal that is no
// longer a member is gone: an object that still exists with the approved
// uid lost modelsync's label (by hand), so it is not listed, and is not
// deleted either; it is reported as not deleted, never as done.
func (m *Manager) confirmGone(ctx context.Context, ch diff.Change) Pruned {
	if ch.Item != nil || ch.UID == "" {
		return Pruned{Change: ch, State: AlreadyGone}
	}
	gvk := schema.FromAPIVersionAndKind(ch.APIVersion, ch.Kind)
	u, err := m.clients.Reader().Get(ctx, gvk, ch.Namespace, ch.Name)
	switch {
	case apierrors.IsNotFound(err):
		return Pruned{Change: ch, State: AlreadyGone}
	case err != nil:
		return Pruned{Change: ch, State: Failed, Err: fmt.Errorf("confirm it is gone: %w", err)}
	case string(u.GetUID()) != ch.UID || u.GetDeletionTimestamp() != nil:
		return Pruned{Change: ch, State: AlreadyGone} // another object by that name, or on its way out
	}
	return Pruned{Change: ch, State: Failed, Err: fmt.Errorf("still exists with the approved uid %s but without the label %s=%s (taken off by hand?), "+
		"so modelsync does not delete it: put the label back and run the same prune again, or delete it by hand", ch.UID, inventory.LabelPartOf, m.inv.ID())}
}
