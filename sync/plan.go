package sync

import (
	"context"

	"modelsync.dev/modelsync/desired"
	"modelsync.dev/modelsync/diff"
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
