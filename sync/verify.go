package sync

import (
	"fmt"
	"sort"
	"strings"

	"modelsync.dev/modelsync/diff"
)

// Verify refuses a prune whose approved plan no longer matches the cluster:
// another target, removals added or gone, or a pruned object changed since
// (its uid or resourceVersion). Entries inside shared objects are compared by
// owner and key, since a sync between plan and prune changes the owner's
// resourceVersion without changing what is removed.
func Verify(approved, current *diff.Plan) error {
	if approved.Namespace != current.Namespace || approved.Inventory != current.Inventory {
		return fmt.Errorf("%w: it was made for namespace %s, inventory %s; this prune targets namespace %s, inventory %s",
			ErrStalePlan, approved.Namespace, approved.Inventory, current.Namespace, current.Inventory)
	}
	want, got := removalKeys(approved), removalKeys(current)
	var problems []string
	for k, v := range want {
		switch g, ok := got[k]; {
		case !ok:
			problems = append(problems, "approved but no longer pending: "+k)
		case g != v:
			problems = append(problems, fmt.Sprintf("changed since the plan was made: %s (%s, now %s)", k, v, g))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			problems = append(problems, "pending but not in the approved plan: "+k)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return fmt.Errorf("%w, nothing was changed; run the plan again and approve the new one:\n  %s", ErrStalePlan, strings.Join(problems, "\n  "))
}

// removalKeys maps each removal to the version it applies to.
func removalKeys(p *diff.Plan) map[string]string {
	out := map[string]string{}
	for _, ch := range p.Removals() {
		k := string(ch.Action) + " " + ch.ID().String()
		v := "uid " + ch.UID + ", resourceVersion " + ch.ResourceVersion
		if ch.Item != nil {
			k += " " + ch.Item.Noun + " " + ch.Item.Key
			v = "uid " + ch.UID
		}
		out[k] = v
	}
	return out
}
