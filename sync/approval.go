package sync

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/manifest"
)

// removalKey names one removal: an object, or one entry of a shared object.
type removalKey struct {
	action diff.Action
	id     manifest.ID
	entry  string
}

func keyOf(ch diff.Change) removalKey {
	k := removalKey{action: ch.Action, id: ch.ID()}
	if ch.Item != nil {
		k.entry = ch.Item.Noun + " " + ch.Item.Key
	}
	return k
}

func (k removalKey) String() string {
	s := string(k.action) + " " + k.id.String()
	if k.entry != "" {
		s += " " + k.entry
	}
	return s
}

// approval is an approved plan matched with the cluster now.
type approval struct {
	// todo are the approved removals still pending, each still the object
	// or entry that was approved.
	todo []diff.Change
	// done are approved removals already carried out: by an earlier,
	// interrupted prune of the same plan, or by someone else.
	done []diff.Change
}

// matchApproval binds the approved plan to what it removes. A plan made at
// one revision is stale once the target was synced at another: the tree the
// prune reads is then no longer what the target is meant to be (a revert
// synced since would have its model deleted). A removal is
// stale only when what it would remove is not what was approved: an object
// recreated (another uid) or changed outside its status (another content
// digest), an entry changed, a removal that is no longer one (back in the
// tree), or a pending removal nobody approved. Status written by a
// controller, and a sync between plan and prune, change none of these. An
// approved removal already carried out is done, so the same plan finishes
// an interrupted prune.
func matchApproval(approved *diff.Plan, res *diff.Result) (approval, error) {
	current := res.Plan
	if approved.Namespace != current.Namespace || approved.Inventory != current.Inventory {
		return approval{}, fmt.Errorf("%w: it was made for namespace %s, inventory %s; this prune targets namespace %s, inventory %s",
			ErrStalePlan, approved.Namespace, approved.Inventory, current.Namespace, current.Inventory)
	}
	if synced := res.Parent.Revision; approved.Revision != "" && synced != "" && synced != approved.Revision {
		return approval{}, fmt.Errorf("%w, nothing was changed: it was made at revision %s, and namespace %s has since been synced at revision %s, "+
			"which is what the target is meant to be now; approve the prune of the pipeline that synced %s (its plan lists what is still to remove)",
			ErrStalePlan, approved.Revision, current.Namespace, synced, synced)
	}
	if began := res.Parent.Began; approved.Revision != "" && began != "" && began != approved.Revision {
		return approval{}, fmt.Errorf("%w, nothing was changed: it was made at revision %s, and a sync of revision %s has since begun in namespace %s "+
			"(it may not have completed: what the target is meant to be is %s now); sync %s to the end, then approve the prune of the plan made at it",
			ErrStalePlan, approved.Revision, began, current.Namespace, began, began)
	}
	if approved.Rollbacks != res.Parent.Rollbacks {
		return approval{}, fmt.Errorf("%w, nothing was changed: namespace %s was rolled back to an older revision (sync --allow-rollback) after the plan was made, "+
			"which makes every earlier approval stale; make a new plan and approve it", ErrStalePlan, current.Namespace)
	}
	pending := map[removalKey]diff.Change{}
	for _, ch := range current.Removals() {
		pending[keyOf(ch)] = ch
	}
	members := map[manifest.ID]*unstructured.Unstructured{}
	for i := range res.Members {
		members[manifest.IDOf(&res.Members[i])] = &res.Members[i]
	}
	var ap approval
	var problems []string
	for _, a := range approved.Removals() {
		k := keyOf(a)
		now, ok := pending[k]
		delete(pending, k)
		switch {
		case ok && now.UID != a.UID:
			problems = append(problems, fmt.Sprintf("recreated since the plan was made (uid %s, now %s): %s", a.UID, now.UID, k))
		case ok && now.Digest != a.Digest:
			problems = append(problems, "changed since the plan was made: "+k.String())
		case ok:
			ap.todo = append(ap.todo, a)
		case a.Action == diff.Recreate:
			// Applied by an earlier run of this plan, or the tree no
			// longer changes the pods (a revert): nothing goes down.
			ap.done = append(ap.done, a)
		case stillThere(a, members[a.ID()]):
			problems = append(problems, "approved but no longer pending (back in the tree, or annotated prune: disabled): "+k.String())
		default:
			ap.done = append(ap.done, a)
		}
	}
	for k := range pending {
		problems = append(problems, "pending but not in the approved plan: "+k.String())
	}
	if len(problems) == 0 {
		return ap, nil
	}
	sort.Strings(problems)
	return approval{}, fmt.Errorf("%w, nothing was changed; run the plan again and approve the new one:\n  %s", ErrStalePlan, strings.Join(problems, "\n  "))
}

// stillThere is whether the object or entry an approved removal names still
// exists, undeleted, as a member: it was not removed, it stopped being a
// removal.
func stillThere(a diff.Change, member *unstructured.Unstructured) bool {
	if member == nil || string(member.GetUID()) != a.UID || member.GetDeletionTimestamp() != nil {
		return false
	}
	if a.Item == nil {
		return true
	}
	return slices.ContainsFunc(gateway.Items(member), func(it gateway.Item) bool { return it.Key == a.Item.Key })
}
