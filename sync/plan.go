package sync

import (
	"context"

	"modelsync.dev/modelsync/desired"
	"modelsync.dev/modelsync/diff"
)

// Plan compares set with the target; it only reads and dry-runs.
func (m *Manager) Plan(ctx context.Context, set *desired.Set, opts diff.Options) (*diff.Result, error) {
	opts.Inventory = m.inv.Name
	return diff.New(m.clients.Reader(), m.inv.Namespace, opts).Plan(ctx, set)
}
