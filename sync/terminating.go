package sync

import (
	"errors"
	"fmt"
	"strings"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/manifest"
)

// ErrHeldBack: some writes were held back because what they point at is
// being deleted; the rest was written, the revision is not recorded as
// synced, and a sync once it is gone finishes.
var ErrHeldBack = errors.New("writes held back")

// holdDangling takes out of writes every object (a route, a policy, an
// AIServiceBackend) with an entry or a reference pointing at an object of
// the tree that is being deleted (finalizers hold it): written now, its
// rule or targetRef would point at nothing once the finalizer lets go, and
// sync cannot create that object again until it is gone. It returns the
// writes left and what was held, said for the report.
func holdDangling(writes, all []diff.Prediction) ([]diff.Prediction, []string) {
	terminating := map[manifest.ID]bool{}
	for _, p := range all {
		if p.Change.Action == diff.Terminating {
			terminating[p.Object.ID()] = true
		}
	}
	if len(terminating) == 0 {
		return writes, nil
	}
	var rest []diff.Prediction
	var held []string
	for _, p := range writes {
		var to []string
		if p.Applied != nil {
			for _, r := range gateway.Refs(p.Applied) {
				if terminating[r.ID] {
					what := r.ID.String()
					if r.Entry != "" {
						what = fmt.Sprintf("entry %s → %s", r.Entry, r.ID)
					}
					to = append(to, what)
				}
			}
		}
		if len(to) == 0 {
			rest = append(rest, p)
			continue
		}
		held = append(held, fmt.Sprintf("%s %s (%s): it points at what is being deleted (%s); sync writes it once that is gone and created again",
			p.Object.GetKind(), p.Object.GetName(), p.Change.Origin, strings.Join(to, ", ")))
	}
	return rest, held
}
