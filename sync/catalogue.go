package sync

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/gateway"
)

// settleCatalogues drops from the catalogues the models sync kept listed
// while their rules awaited this prune (diff.Prediction.Held), once no live
// route serves them any more: the catalogue follows the routes, after the
// prune as after a sync.
func (m *Manager) settleCatalogues(ctx context.Context, res *diff.Result, fence Fence) []Pruned {
	var out []Pruned
	var served map[string]bool
	for _, p := range res.Predictions {
		if len(p.Held) == 0 {
			continue
		}
		if served == nil {
			var err error
			if served, err = m.servedRules(ctx, res); err != nil {
				return append(out, failed(Pruned{Change: p.Change}, fmt.Errorf("catalogue: read the routes: %w", err)))
			}
		}
		cfg := diff.Settle(p, func(name string) bool { return served[name] })
		if cfg == nil {
			continue
		}
		var dropped []string
		for _, n := range p.Held {
			if !served[n] {
				dropped = append(dropped, "catalogue entry "+n)
			}
		}
		done := Pruned{Change: p.Change, State: Removed, Entries: dropped}
		done.Change.Action, done.Change.Message = diff.PruneItem, "removed "+strings.Join(dropped, ", ")+": no route serves them any more"
		if err := fence.Hold(ctx); err != nil {
			return append(out, failed(done, err))
		}
		if _, err := m.apply(ctx, cfg, fence); err != nil {
			done = failed(done, fmt.Errorf("%s: %w", p.Object.ID(), err))
		}
		out = append(out, done)
	}
	return out
}

// servedRules are the rule keys of the set's routes as they are now.
func (m *Manager) servedRules(ctx context.Context, res *diff.Result) (map[string]bool, error) {
	out := map[string]bool{}
	for i := range res.Members {
		u := &res.Members[i]
		if !gateway.IsRoute(u) {
			continue
		}
		r, err := m.clients.Resource(schema.FromAPIVersionAndKind(u.GetAPIVersion(), u.GetKind()), u.GetNamespace())
		if err != nil {
			return nil, err
		}
		live, err := r.Get(ctx, u.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, err
		}
		for _, it := range gateway.Items(live) {
			out[it.Key] = true
		}
	}
	return out, nil
}
