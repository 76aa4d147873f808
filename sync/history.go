package sync

import (
	"cmp"
	"errors"
	"fmt"

	"modelsync.dev/modelsync/inventory"
)

// ErrRollback: the revision synced does not come after the newest one a
// sync of the namespace began at.
var ErrRollback = errors.New("a sync back to an older revision")

// History reports whether revision is ancestor or comes after it in the
// tree's history, and whether the history at hand shows either way (a
// shallow clone may not).
type History func(ancestor, revision string) (descends, known bool)

// backwards says whether syncing revision goes back in history: behind the
// newest revision a sync of the namespace began at (completed or cut off),
// which is what the target is meant to be. Without AllowRollback that is
// refused: GitLab's Retry of an old sync job, or an environment's Rollback,
// would put an older tree back and make an approval of its plan fresh
// again. A namespace handed over (TakeOver) starts a new history; without
// History nothing is checked.
func backwards(parent inventory.Parent, revision string, opts Options) (bool, error) {
	newest := cmp.Or(parent.Began, parent.Revision)
	if opts.History == nil || newest == "" || revision == "" || newest == revision || opts.TakeOver {
		return false, nil
	}
	descends, known := opts.History(newest, revision)
	if descends {
		return false, nil
	}
	why := fmt.Sprintf("revision %s is older than %s, which a sync of the namespace began at", short(revision), short(newest))
	if !known {
		why = fmt.Sprintf("this clone's history does not show revision %s coming after %s, which a sync of the namespace began at (a shallow clone: fetch deeper, GIT_DEPTH)", short(revision), short(newest))
	} else if older, _ := opts.History(revision, newest); !older {
		why = fmt.Sprintf("revision %s does not descend from %s, which a sync of the namespace began at (history rewritten?)", short(revision), short(newest))
	}
	if !opts.AllowRollback {
		return false, fmt.Errorf("%w, nothing was written: %s. To go back, revert the change in git and let its pipeline sync; "+
			"to sync this revision anyway, run sync --allow-rollback (every approval of an earlier plan then goes stale)", ErrRollback, why)
	}
	return true, nil
}

// short abbreviates a commit id as git does.
func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
