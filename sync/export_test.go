package sync

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// AcquireLease takes the target's Lease without WithLease's background
// renewal, so a test controls every request the Lease makes.
func (m *Manager) AcquireLease(ctx context.Context, opts LeaseOptions) (*Lease, error) {
	l := &Lease{client: m.clients.Core.CoordinationV1().Leases(m.inv.Namespace), name: LeaseName(m.inv), opts: opts}
	return l, l.acquire(ctx, m.inv.Namespace, NoProgress{})
}

// DeleteCopy is deleteCopy, for the fence tests.
func (m *Manager) DeleteCopy(ctx context.Context, c *unstructured.Unstructured, fence Fence) error {
	return m.deleteCopy(ctx, c, fence)
}
