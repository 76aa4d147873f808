package sync

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// expandClaims raises the storage request of the claims a replaced
// StatefulSet keeps to what its new claim templates ask: the StatefulSet
// controller never resizes a claim, so without this a grown cache stays at
// its old size while the plan is clean. The API server allows it only when
// the claim's StorageClass allows expansion; a refusal is reported, with the
// size the claim keeps. The volume plugin then resizes the volume.
func (m *Manager) expandClaims(ctx context.Context, sts *unstructured.Unstructured) []string {
	if sts.GetKind() != "StatefulSet" {
		return nil
	}
	templates, _, _ := unstructured.NestedSlice(sts.Object, "spec", "volumeClaimTemplates")
	if len(templates) == 0 {
		return nil
	}
	claims := m.clients.Core.CoreV1().PersistentVolumeClaims(sts.GetNamespace())
	list, err := claims.List(ctx, metav1.ListOptions{})
	if err != nil {
		return []string{fmt.Sprintf("claims not checked for their size: %v", err)}
	}
	var notes []string
	for _, tpl := range templates {
		m, _ := tpl.(map[string]any)
		name, _, _ := unstructured.NestedString(m, "metadata", "name")
		want, _, _ := unstructured.NestedString(m, "spec", "resources", "requests", "storage")
		size, err := resource.ParseQuantity(want)
		if name == "" || err != nil {
			continue
		}
		prefix := name + "-" + sts.GetName() + "-"
		for _, pvc := range list.Items {
			ordinal, ok := strings.CutPrefix(pvc.Name, prefix)
			have := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
			if !ok || ordinal == "" || strings.Trim(ordinal, "0123456789") != "" || have.Cmp(size) >= 0 {
				continue
			}
			patch := fmt.Sprintf(`{"spec":{"resources":{"requests":{"storage":%q}}}}`, size.String())
			_, err := claims.Patch(ctx, pvc.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
			if err != nil {
				notes = append(notes, fmt.Sprintf("claim %s stays %s, the template asks %s: %v", pvc.Name, have.String(), size.String(), err))
				continue
			}
			notes = append(notes, fmt.Sprintf("claim %s: request raised from %s to %s; the volume plugin resizes the volume", pvc.Name, have.String(), size.String()))
		}
	}
	return notes
}
