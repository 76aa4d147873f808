package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/manifest"
)

// PruneOptions configures Prune.
type PruneOptions struct {
	// DeleteClaims also deletes the PersistentVolumeClaims of pruned
	// StatefulSets; by default they are kept and reported.
	DeleteClaims bool
	// MaxPrunes is the most objects one prune deletes without AllowMass.
	MaxPrunes int
	// AllowMass lifts the mass-deletion guard: an empty desired set, or more
	// than MaxPrunes objects.
	AllowMass bool
	// Terminating is how long to wait for a deleted object to disappear
	// before reporting the finalizers that hold it.
	Terminating time.Duration
	// Concurrency bounds the requests in flight within one kind rank.
	Concurrency int
}

// DefaultPruneOptions returns the defaults.
func DefaultPruneOptions() PruneOptions {
	return PruneOptions{MaxPrunes: 25, Terminating: 30 * time.Second, Concurrency: 16}
}

// Pruned is one removal done (or tried) by Prune.
type Pruned struct {
	Change diff.Change
	Err    error
	// Finalizers hold an object that is still terminating.
	Finalizers []string
}

// PruneReport is what Prune did.
type PruneReport struct {
	Pruned []Pruned
	// Claims are the PersistentVolumeClaims of pruned StatefulSets: kept, or
	// deleted with DeleteClaims.
	Claims        []string
	ClaimsDeleted bool
}

// PruneProgress receives one call per removal.
type PruneProgress interface{ Pruned(Pruned) }

func (NoProgress) Pruned(Pruned) {}

// Typed refusals: nothing was changed.
var (
	ErrStalePlan = errors.New("the approved plan is stale")
	ErrMassPrune = errors.New("mass deletion refused")
)

// Prune executes the removals of res, which must equal those of the approved
// plan: prune-items first (the desired shared object is applied without the
// entries awaiting prune), then deletions in reverse dependency order with
// uid and resourceVersion preconditions. The inventory shrinks only when
// every deletion succeeded.
func Prune(ctx context.Context, c *cluster.Clients, inv *inventory.Inventory, approved *diff.Plan, res *diff.Result, opts PruneOptions, progress PruneProgress) (PruneReport, error) {
	if err := Verify(approved, res.Plan); err != nil {
		return PruneReport{}, err
	}
	if err := guard(res, opts); err != nil {
		return PruneReport{}, err
	}
	var rep PruneReport
	var errs []error
	var shared []diff.Prediction
	for _, p := range res.Predictions {
		if len(p.Pending) > 0 {
			shared = append(shared, p)
		}
	}
	// Reverse dependency order: traffic policies, routes, then security
	// policies; no route is left pointing at a backend about to go.
	for _, batch := range slices.Backward(byRank(shared, func(p diff.Prediction) int { return Rank(p.Object.GetKind()) })) {
		done, err := inParallel(ctx, batch, opts.Concurrency, func(ctx context.Context, p diff.Prediction) Pruned {
			return removeItems(ctx, c, p)
		}, progress.Pruned)
		rep.Pruned = append(rep.Pruned, done...)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		// Objects stay until the entries pointing at them are gone.
		return rep, fmt.Errorf("removing entries from shared objects failed, no object was deleted: %w", err)
	}
	var prunes []diff.Change
	for _, ch := range res.Plan.Changes {
		if ch.Action == diff.Prune {
			prunes = append(prunes, ch)
		}
	}
	for _, batch := range slices.Backward(byRank(prunes, func(ch diff.Change) int { return Rank(ch.Kind) })) {
		done, err := inParallel(ctx, batch, opts.Concurrency, func(ctx context.Context, ch diff.Change) Pruned {
			return deleteObject(ctx, c, ch, opts)
		}, progress.Pruned)
		rep.Pruned = append(rep.Pruned, done...)
		errs = append(errs, err)
	}
	claims, err := statefulSetClaims(ctx, c, rep.Pruned, res.Members, opts.DeleteClaims)
	rep.Claims, rep.ClaimsDeleted = claims, opts.DeleteClaims
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("prune incomplete; what failed stays in the inventory, rerun after fixing it: %w", err)
	}
	return rep, shrink(ctx, inv, res, rep)
}

// guard is the mass-deletion guard.
func guard(res *diff.Result, opts PruneOptions) error {
	n := res.Plan.Counts()[diff.Prune]
	switch {
	case opts.AllowMass || n == 0:
		return nil
	case len(res.Predictions) == 0:
		return fmt.Errorf("%w: the desired set is empty and all %d objects of the inventory would be deleted; check --path, or pass --allow-mass-prune", ErrMassPrune, n)
	case n > opts.MaxPrunes:
		return fmt.Errorf("%w: %d objects would be deleted, more than --max-prunes %d; pass --allow-mass-prune if that is intended", ErrMassPrune, n, opts.MaxPrunes)
	}
	return nil
}

// removeItems applies the shared object without the entries awaiting
// prune: what sync applies, with the desired entries only, on the live
// version the plan saw.
func removeItems(ctx context.Context, c *cluster.Clients, p diff.Prediction) Pruned {
	ch := p.Change
	ch.Action, ch.Diff = diff.PruneItem, ""
	keys := make([]string, len(p.Pending))
	for i, it := range p.Pending {
		keys[i] = it.Noun + " " + it.Key
	}
	ch.Message = "removed " + strings.Join(keys, ", ")
	done := Pruned{Change: ch}
	u := p.Applied.DeepCopy()
	err := manifest.SetItems(u, manifest.Items(p.Object.Unstructured))
	if err == nil {
		u.SetResourceVersion(p.Live.GetResourceVersion())
		_, err = serverSideApply(ctx, c, u)
	}
	if err != nil {
		done.Err = fmt.Errorf("%s: remove %d entries: %w", p.Object.ID(), len(p.Pending), err)
	}
	return done
}

// deleteObject deletes exactly the object version the plan saw, then waits a
// while for it to disappear and names the finalizers holding it if not.
func deleteObject(ctx context.Context, c *cluster.Clients, ch diff.Change, opts PruneOptions) Pruned {
	done := Pruned{Change: ch}
	res, err := c.Resource(schema.FromAPIVersionAndKind(ch.APIVersion, ch.Kind), ch.Namespace)
	if err != nil {
		done.Err = err
		return done
	}
	uid, rv := types.UID(ch.UID), ch.ResourceVersion
	bg := metav1.DeletePropagationBackground
	err = res.Delete(ctx, ch.Name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &uid, ResourceVersion: &rv},
		PropagationPolicy: &bg,
	})
	switch {
	case apierrors.IsNotFound(err):
		return done
	case apierrors.IsConflict(err):
		done.Err = fmt.Errorf("%s: changed since the plan was made, not deleted; make a new plan: %w", ch.ID(), err)
		return done
	case err != nil:
		done.Err = fmt.Errorf("%s: delete: %w", ch.ID(), err)
		return done
	}
	var last *unstructured.Unstructured
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, opts.Terminating, true, func(ctx context.Context) (bool, error) {
		u, err := res.Get(ctx, ch.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) || (err == nil && u.GetUID() != uid):
			return true, nil
		case err == nil:
			last = u
		}
		return false, nil // a failed read is retried until the timeout
	})
	if err != nil && last != nil && len(last.GetFinalizers()) > 0 {
		done.Finalizers = last.GetFinalizers()
		return done
	}
	if err != nil {
		done.Err = fmt.Errorf("%s: deleted, but did not go within %s: %w", ch.ID(), opts.Terminating, err)
	}
	return done
}

// shrink narrows the parent's group-kinds to what is left: the desired
// objects and the members that were kept or are still terminating.
func shrink(ctx context.Context, inv *inventory.Inventory, res *diff.Result, rep PruneReport) error {
	gone := map[manifest.ID]bool{}
	for _, p := range rep.Pruned {
		if p.Change.Action == diff.Prune && p.Err == nil && len(p.Finalizers) == 0 {
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
	parent.GroupKinds = gks
	return inv.Update(ctx, parent)
}
