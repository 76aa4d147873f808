package sync

import (
	"context"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/tree/desired"
)

// Plan compares set with the target; it only reads and dry-runs.
func (m *Manager) Plan(ctx context.Context, set *desired.Set, opts diff.Options) (*diff.Result, error) {
	return m.Differ(opts).Plan(ctx, set)
}

// Differ is the target's differ: it only reads and dry-runs.
func (m *Manager) Differ(opts diff.Options) *diff.Differ {
	opts.Inventory = m.inv.Name
	return diff.New(m.clients.Reader(), m.inv.Namespace, opts)
}

// Restamp records again what the last sync left as its tree asks, after
// its wait: controllers writing status moved the resourceVersions the
// record stamped, and until the next sync every plan would read those
// members whole. It plans again (reading them whole and comparing their
// fingerprints, so nothing unverified gets a stamp) and rewrites the
// record from that plan; an object that no longer matches its fingerprint
// keeps no entry. The rest of the parent is written as the plan found it.
func (m *Manager) Restamp(ctx context.Context, set *desired.Set, opts diff.Options, fence Fence) error {
	res, err := m.Plan(ctx, set, opts)
	if err != nil {
		return err
	}
	parent := res.Parent
	parent.Verified, parent.Fence = verified(res, Report{}), fence.Token()
	if err := fence.Confirm(ctx); err != nil {
		return err
	}
	return m.inv.Update(ctx, m.clients, parent)
}
