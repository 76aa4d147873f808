package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/inventory"
)

// LastAppliedAnnotation is where client-side `kubectl apply` keeps the
// configuration it last applied.
const LastAppliedAnnotation = corev1.LastAppliedConfigAnnotation

// isKubectlUpdate tells the field managers of kubectl's client-side writes:
// `kubectl apply` (kubectl-client-side-apply), fields that predate managed
// fields (before-first-apply), and kubectl edit/patch/replace/create.
func isKubectlUpdate(mf metav1.ManagedFieldsEntry) bool {
	return mf.Operation == metav1.ManagedFieldsOperationUpdate &&
		(mf.Manager == "before-first-apply" || strings.HasPrefix(mf.Manager, "kubectl"))
}

// takeOver hands the fields owned by kubectl's client-side writes to
// modelsync's apply manager and drops last-applied-configuration, as Flux
// does when it adopts. Without it those managers keep co-owning every field
// they set, and a rule later removed from the tree would stay on the object.
// It returns false when there was nothing to take over. Given managers, it
// takes the fields of those imperative managers only (fields added by hand,
// diff.Change.TakeFrom), so that the apply that follows removes them.
func (m *Manager) takeOver(ctx context.Context, live *unstructured.Unstructured, managers []string) (bool, error) {
	entries := live.GetManagedFields()
	taken := &fieldpath.Set{}
	var kept []metav1.ManagedFieldsEntry
	ours := -1
	take := isKubectlUpdate
	if len(managers) > 0 {
		take = func(mf metav1.ManagedFieldsEntry) bool {
			return diff.Imperative(mf) && slices.Contains(managers, mf.Manager)
		}
	}
	for _, mf := range entries {
		if !take(mf) {
			if mf.Manager == inventory.FieldManager && mf.Operation == metav1.ManagedFieldsOperationApply {
				ours = len(kept)
			}
			kept = append(kept, mf)
			continue
		}
		if err := union(taken, mf.FieldsV1); err != nil {
			return false, fmt.Errorf("read managed fields of %s: %w", mf.Manager, err)
		}
	}
	_, hasLastApplied := live.GetAnnotations()[LastAppliedAnnotation]
	if taken.Empty() && !hasLastApplied {
		return false, nil
	}
	taken = taken.Difference(fieldpath.NewSet(fieldpath.MakePathOrDie("metadata", "annotations", LastAppliedAnnotation)))
	if ours < 0 {
		kept = append(kept, metav1.ManagedFieldsEntry{
			Manager: inventory.FieldManager, Operation: metav1.ManagedFieldsOperationApply,
			APIVersion: live.GetAPIVersion(), FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte("{}")},
		})
		ours = len(kept) - 1
	}
	if err := union(taken, kept[ours].FieldsV1); err != nil {
		return false, fmt.Errorf("read managed fields of %s: %w", inventory.FieldManager, err)
	}
	raw, err := taken.ToJSON()
	if err != nil {
		return false, err
	}
	kept[ours].FieldsV1 = &metav1.FieldsV1{Raw: raw}

	ops := []map[string]any{
		{"op": "test", "path": "/metadata/resourceVersion", "value": live.GetResourceVersion()},
		{"op": "replace", "path": "/metadata/managedFields", "value": kept},
	}
	if hasLastApplied {
		ops = append(ops, map[string]any{"op": "remove", "path": "/metadata/annotations/" + strings.ReplaceAll(LastAppliedAnnotation, "/", "~1")})
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return false, err
	}
	res, err := m.clients.Resource(live.GroupVersionKind(), live.GetNamespace())
	if err != nil {
		return false, err
	}
	if _, err := res.Patch(ctx, live.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return false, fmt.Errorf("take over kubectl's field managers: %w", err)
	}
	return true, nil
}

func union(s *fieldpath.Set, f *metav1.FieldsV1) error {
	if f == nil || len(f.Raw) == 0 {
		return nil
	}
	other := &fieldpath.Set{}
	if err := other.FromJSON(bytes.NewReader(f.Raw)); err != nil {
		return err
	}
	*s = *s.Union(other)
	return nil
}
