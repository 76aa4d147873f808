package sync

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"modelsync.dev/modelsync/diff"
)

// The StatefulSet controller never resizes a claim: a grown claim template
// leaves the claims its pods already have at their old size. modelsync
// raises their request, which the API server allows when the claim's
// StorageClass allows expansion; the volume plugin then resizes the volume.

// expandClaims raises the claims a replaced StatefulSet keeps to what its
// new templates ask, and says for each what it did or why it could not.
func (m *Manager) expandClaims(ctx context.Context, sts *unstructured.Unstructured) []string {
	templates := diff.ClaimTemplates(sts)
	if len(templates) == 0 {
		return nil
	}
	list, err := m.clients.Core.CoreV1().PersistentVolumeClaims(sts.GetNamespace()).List(ctx, metav1.ListOptions{})
	if err != nil {
		return []string{fmt.Sprintf("claims not checked for their size: %v", err)}
	}
	var notes []string
	for _, t := range templates {
		for i := range list.Items {
			pvc := &list.Items[i]
			have := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
			if !t.Made(pvc.Name) || have.Cmp(t.Storage) >= 0 {
				continue
			}
			if err := m.raiseClaim(ctx, pvc.Namespace, pvc.Name, t.Storage); err != nil {
				notes = append(notes, fmt.Sprintf("claim %s stays %s, the template asks %s: %v", pvc.Name, have.String(), t.Storage.String(), err))
				continue
			}
			notes = append(notes, fmt.Sprintf("claim %s: request raised from %s to %s; the volume plugin resizes the volume", pvc.Name, have.String(), t.Storage.String()))
		}
	}
	return notes
}

// resizeClaims carries out the plan's resizes: each claim's request is
// raised to what its StatefulSet's template asks.
func (m *Manager) resizeClaims(ctx context.Context, res *diff.Result, opts Options, progress Progress) ([]Applied, error) {
	var templates []diff.ClaimTemplate
	for _, p := range res.Predictions {
		templates = append(templates, diff.ClaimTemplates(p.Object.Unstructured)...)
	}
	var out []Applied
	var errs []error
	for _, ch := range res.Plan.Changes {
		if ch.Action != diff.Resize {
			continue
		}
		a := Applied{Change: ch}
		for _, t := range templates {
			if t.Made(ch.Name) {
				if err := opts.Fence.Hold(ctx); err != nil {
					return out, err
				}
				if err := m.raiseClaim(ctx, ch.Namespace, ch.Name, t.Storage); err != nil {
					a.Err = fmt.Errorf("raise its request to %s: %w; expand the volume by hand, or keep the template's size", t.Storage.String(), err)
				}
				break
			}
		}
		progress.Applied(a)
		out = append(out, a)
		errs = append(errs, a.Err)
	}
	return out, errors.Join(errs...)
}

func (m *Manager) raiseClaim(ctx context.Context, namespace, name string, size resource.Quantity) error {
	patch := fmt.Sprintf(`{"spec":{"resources":{"requests":{"storage":%q}}}}`, size.String())
	_, err := m.clients.Core.CoreV1().PersistentVolumeClaims(namespace).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}
