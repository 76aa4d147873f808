package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/inventory"
)

// ErrFenceOff: the fence policy does not guard the target; with
// RequireFence nothing was written.
var ErrFenceOff = errors.New("the fence is off")

// FenceInForce asks the API server whether the fence policy (rbac.Fence)
// guards this target, with the rights sync and prune already hold: a
// dry-run apply of the inventory Secret carrying a token of the target's
// Lease at a transition it never had. The policy refuses it; without the
// policy, or without its binding for this target, the API server accepts
// it. Nothing is stored either way.
func (m *Manager) FenceInForce(ctx context.Context) (bool, error) {
	probe := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{
			"name": m.inv.Name, "namespace": m.inv.Namespace,
			"labels":      map[string]any{inventory.LabelID: m.inv.ID()},
			"annotations": map[string]any{inventory.AnnotationFence: LeaseName(m.inv) + ":stale-probe/0"},
		},
	}}
	_, err := m.clients.Apply(ctx, probe, cluster.ApplyOptions{FieldManager: "modelsync-fence-probe", DryRun: true, Force: true})
	switch {
	case err == nil:
		return false, nil
	case strings.Contains(err.Error(), inventory.FenceRefusal):
		return true, nil
	}
	return false, fmt.Errorf("ask whether the fence guards namespace %s: %w", m.inv.Namespace, err)
}

// FenceOffWarning is what sync and prune say when the fence is off.
func FenceOffWarning(namespace string) string {
	return fmt.Sprintf("the fence is off for namespace %s: the API server does not refuse a write of a run that lost its Lease "+
		"(apply the ValidatingAdmissionPolicy and binding that modelsync rbac prints, as a cluster administrator)", namespace)
}
