package sync

import (
	"context"
	"errors"
	"slices"
	gosync "sync"

	"golang.org/x/sync/errgroup"
)

// byRank groups items by rank, in ascending order; prune walks the result
// backwards.
func byRank[T any](items []T, rank func(T) int) [][]T {
	groups := map[int][]T{}
	for _, it := range items {
		r := rank(it)
		groups[r] = append(groups[r], it)
	}
	ranks := slices.Sorted(func(yield func(int) bool) {
		for r := range groups {
			if !yield(r) {
				return
			}
		}
	})
	out := make([][]T, len(ranks))
	for i, r := range ranks {
		out[i] = groups[r]
	}
	return out
}

// outcome is one object's result, Applied or Pruned.
type outcome interface{ failure() error }

func (a Applied) failure() error { return a.Err }
func (p Pruned) failure() error  { return p.Err }

// inParallel runs do for every item of one rank, at most limit at a time,
// reporting each outcome as it comes, one report at a time (a Progress
// need not be safe for concurrent use); every item is tried and the errors
// are joined.
func inParallel[T any, R outcome](ctx context.Context, batch []T, limit int, do func(context.Context, T) R, report func(R)) ([]R, error) {
	out := make([]R, len(batch))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	var reporting gosync.Mutex
	for i, x := range batch {
		g.Go(func() error {
			out[i] = do(gctx, x)
			reporting.Lock()
			defer reporting.Unlock()
			report(out[i])
			return nil
		})
	}
	_ = g.Wait()
	var errs []error
	for _, r := range out {
		errs = append(errs, r.failure())
	}
	return out, errors.Join(errs...)
}
