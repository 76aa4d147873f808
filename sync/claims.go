package sync

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"modelsync.dev/modelsync/diff"
)

// claims are the PersistentVolumeClaims the approved plan lists for the
// StatefulSets and LeaderWorkerSets this prune deleted. The StatefulSet controller keeps them, and
// so does modelsync unless told otherwise (re-downloading model weights is
// slow); told to, it deletes exactly the approved claims (uid precondition),
// never others that match the name pattern.
func (m *Manager) claims(ctx context.Context, pruned []Pruned, remove bool) ([]string, bool, error) {
	namespace := m.inv.Namespace
	var names []string
	var errs []error
	for _, p := range pruned {
		if p.Change.Action != diff.Prune || !diff.HasClaims(p.Change.Kind) || p.stays() {
			continue
		}
		for _, cl := range p.Change.Claims {
			names = append(names, cl.Name)
			if !remove {
				continue
			}
			uid := types.UID(cl.UID)
			err := m.clients.Core.CoreV1().PersistentVolumeClaims(namespace).Delete(ctx, cl.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			switch {
			case apierrors.IsConflict(err):
				errs = append(errs, fmt.Errorf("PersistentVolumeClaim %s/%s: not the claim the plan approved (recreated since), kept", namespace, cl.Name))
			case err != nil && !apierrors.IsNotFound(err):
				errs = append(errs, fmt.Errorf("PersistentVolumeClaim %s/%s: delete: %w", namespace, cl.Name, err))
			}
		}
	}
	return names, remove, errors.Join(errs...)
}
