package sync

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/inventory"
)

// guard refuses, before anything is changed, deletions that look like a
// mistake rather than an intent.
func guard(res *diff.Result, ap approval, opts PruneOptions) error {
	var deletes []diff.Change
	var never []string
	for _, ch := range ap.todo {
		// A replacement deletes too: until it is created again, what it
		// replaces is down.
		if ch.Action == diff.Prune || ch.Action == diff.Replace {
			deletes = append(deletes, ch)
			if ch.NeverApplied {
				never = append(never, ch.ID().String())
			}
		}
	}
	if len(never) > 0 && !opts.PruneNeverApplied {
		return fmt.Errorf("%w, nothing was changed: %s carry this set's label, but modelsync never applied them (someone else labeled them); "+
			"remove the label %s to keep them, or give consent to delete them", ErrNeverApplied, strings.Join(never, ", "), inventory.LabelPartOf)
	}
	n := len(deletes)
	if opts.AllowMass || n == 0 {
		return nil
	}
	perKind := map[schema.GroupKind]int{}
	for i := range res.Members {
		perKind[res.Members[i].GroupVersionKind().GroupKind()]++
	}
	for _, ch := range deletes {
		perKind[ch.ID().GroupKind()]--
	}
	switch {
	case len(res.Predictions) == 0:
		return fmt.Errorf("%w: the desired set is empty and all %d objects of the inventory would be deleted", ErrMassPrune, n)
	case n > opts.MaxPrunes:
		return fmt.Errorf("%w: %d objects would be deleted, more than the most one prune deletes (%d)", ErrMassPrune, n, opts.MaxPrunes)
	case 2*n > len(res.Members):
		return fmt.Errorf("%w: %d of the %d members of the set would be deleted, more than half", ErrMassPrune, n, len(res.Members))
	}
	for _, ch := range deletes {
		gk := ch.ID().GroupKind()
		if perKind[gk] == 0 && countKind(res.Members, gk) > 1 {
			return fmt.Errorf("%w: every %s of the set (%d) would be deleted", ErrMassPrune, gk.Kind, countKind(res.Members, gk))
		}
	}
	return nil
}

func countKind(members []unstructured.Unstructured, gk schema.GroupKind) int {
	n := 0
	for i := range members {
		if members[i].GroupVersionKind().GroupKind() == gk {
			n++
		}
	}
	return n
}
