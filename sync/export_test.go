package sync

import "context"

// AcquireLease takes the target's Lease without WithLease's background
// renewal, so a test controls every request the Lease makes.
func (m *Manager) AcquireLease(ctx context.Context, opts LeaseOptions) (*Lease, error) {
	l := &Lease{client: m.clients.Core.CoordinationV1().Leases(m.inv.Namespace), name: LeaseName(m.inv), opts: opts}
	return l, l.acquire(ctx, m.inv.Namespace, NoProgress{})
}
