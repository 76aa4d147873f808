package sync

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/tree/manifest"
)

// replacement is an approved replace: the object to delete (unless an
// interrupted prune of the same plan deleted it already) and the desired
// object to create in its place.
type replacement struct {
	change     diff.Change
	desired    diff.Prediction
	deleteLive bool
	// created: an earlier run of the same plan deleted the old object and
	// created the new one, then stopped; what is left is to wait for it.
	created bool
	// inPlace: an approved recreate, applied over the live object (its
	// only pod restarts), not deleted first.
	inPlace bool
}

// replacements pairs the approved replaces with their desired objects: the
// pending ones, those whose object an earlier run deleted but did not
// create again (the plan now shows it as a create), and those it created
// again but stopped before they were ready (waited for now: a rerun is done
// only when the replacement serves).
func replacements(ap approval, res *diff.Result) ([]replacement, []diff.Change) {
	byID := map[manifest.ID]diff.Prediction{}
	for _, p := range res.Predictions {
		byID[p.Object.ID()] = p
	}
	var out []replacement
	var done []diff.Change
	for _, ch := range ap.todo {
		switch ch.Action {
		case diff.Replace:
			out = append(out, replacement{change: ch, desired: byID[ch.ID()], deleteLive: true})
		case diff.Recreate:
			out = append(out, replacement{change: ch, desired: byID[ch.ID()], inPlace: true})
		}
	}
	for _, ch := range ap.done {
		p, ok := byID[ch.ID()]
		switch {
		case ch.Action == diff.Replace && ok && p.Change.Action == diff.Create:
			out = append(out, replacement{change: ch, desired: p})
		case (ch.Action == diff.Replace || ch.Action == diff.Recreate) && ok && p.Live != nil:
			// Applied by an earlier run of the plan, or no longer needed
			// (the tree went back): wait until it serves.
			out = append(out, replacement{change: ch, desired: p, created: true})
		default:
			done = append(done, ch)
		}
	}
	return out, done
}

// replaceStep deletes the approved object with the preconditions of any
// removal, creates the desired one and waits until it is ready. Claims of a
// StatefulSet are kept, and the new pods mount them again; a claim smaller
// than its new template is expanded (expandClaims).
func (m *Manager) replaceStep(ctx context.Context, r replacement, opts PruneOptions) Pruned {
	done := Pruned{Change: r.change, State: Replaced}
	if r.deleteLive {
		if p := m.deleteObject(ctx, r.change, opts); p.State != Removed && p.State != AlreadyGone {
			p.Change = r.change
			return p
		}
	}
	if r.created {
		if err := m.waitReady(ctx, []*unstructured.Unstructured{r.desired.Live}); err != nil {
			return failed(done, fmt.Errorf("created again by an earlier run of this plan, but not ready: %w", err))
		}
		return done
	}
	if err := opts.Fence.Hold(ctx); err != nil {
		return failed(done, err)
	}
	p := r.desired
	p.Change.Action = diff.Create
	if r.inPlace {
		p.Change.Action = diff.Update
	}
	if a := m.applyOne(ctx, p, opts.Fence); a.Err != nil {
		if r.inPlace {
			return failed(done, fmt.Errorf("not applied: %w; run prune again with the same plan", a.Err))
		}
		return failed(done, fmt.Errorf("deleted, but not created again: %w; run prune again with the same plan", a.Err))
	}
	done.Notes = m.expandClaims(ctx, p.Applied)
	if err := m.waitReady(ctx, []*unstructured.Unstructured{p.Applied}); err != nil {
		if r.inPlace {
			return failed(done, fmt.Errorf("applied, but not ready: %w; the model is down until its new pod starts (revert in git and approve the revert's recreate to go back)", err))
		}
		return failed(done, fmt.Errorf("created again, but not ready: %w", err))
	}
	return done
}
