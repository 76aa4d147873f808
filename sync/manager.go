// Package sync executes plans against one target namespace: ordered
// server-side apply of creations and changes (keeping entries that await an
// approved prune in place), the approved prune, the health wait, and the
// Lease that makes runs take turns.
package sync

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/inventory"
)

// Manager is modelsync's engine for one target: it holds the clients, the
// target's inventory and the field manager every write uses, and owns the
// verbs, each in its own file: Plan (plan.go), Apply (apply.go), Prune
// (prune.go), Wait (wait.go) and WithLease (lease.go). Planning goes through
// the clients' read-only view (cluster.Reader), so it cannot write.
type Manager struct {
	clients      *cluster.Clients
	inv          *inventory.Inventory
	fieldManager string
}

// NewManager returns the engine for the ApplySet whose parent Secret is
// inventoryName in namespace.
func NewManager(c *cluster.Clients, namespace, inventoryName string) *Manager {
	return &Manager{clients: c, inv: inventory.New(c.Reader(), namespace, inventoryName), fieldManager: inventory.FieldManager}
}

// Inventory is the target's inventory.
func (m *Manager) Inventory() *inventory.Inventory { return m.inv }

// apply writes u with the engine's field manager, forced, with strict field
// validation; a resourceVersion in u is a precondition. The write carries
// the fence's next token, so the API server refuses it once another run took
// the Lease. It returns the object as the API server stored it.
func (m *Manager) apply(ctx context.Context, u *unstructured.Unstructured, fence Fence) (*unstructured.Unstructured, error) {
	if token := fence.Token(); token != "" {
		u = u.DeepCopy()
		ann := u.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[inventory.AnnotationFence] = token
		u.SetAnnotations(ann)
	}
	return m.clients.Apply(ctx, u, cluster.ApplyOptions{FieldManager: m.fieldManager, Force: true})
}
