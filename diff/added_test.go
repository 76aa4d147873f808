package diff

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/inventory"
)

func TestAddedByHand(t *testing.T) {
	entry := func(manager string, op metav1.ManagedFieldsOperationType, sub, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, Subresource: sub, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
	}
	ours := entry(inventory.FieldManager, metav1.ManagedFieldsOperationApply, "", `{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"vllm\"}":{".":{},"f:name":{},"f:image":{}}}}}}}`)
	for _, tc := range []struct {
		name       string
		entries    []metav1.ManagedFieldsEntry
		keep       []string
		coOwners   string
		want, mgrs []string
	}{
		{"kubectl edit adds an env var", []metav1.ManagedFieldsEntry{ours, entry("kubectl-edit", metav1.ManagedFieldsOperationUpdate, "",
			`{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"vllm\"}":{"f:env":{".":{},"k:{\"name\":\"X\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}`)},
			nil, "", []string{`.spec.template.spec.containers[name="vllm"].env added by kubectl-edit`}, []string{"kubectl-edit"}},
		{"a field modelsync owns too is not added", []metav1.ManagedFieldsEntry{ours, entry("kubectl-patch", metav1.ManagedFieldsOperationUpdate, "", `{"f:spec":{"f:replicas":{}}}`)},
			nil, "", nil, nil},
		{"fields older than managed fields", []metav1.ManagedFieldsEntry{ours, entry("before-first-apply", metav1.ManagedFieldsOperationUpdate, "", `{"f:metadata":{"f:labels":{"f:team":{}}}}`)},
			nil, "", []string{".metadata.labels.team added by before-first-apply"}, []string{"before-first-apply"}},
		{"a controller writing status", []metav1.ManagedFieldsEntry{ours, entry("kube-controller-manager", metav1.ManagedFieldsOperationUpdate, "status", `{"f:status":{"f:replicas":{}}}`)},
			nil, "", nil, nil},
		{"an HPA writing replicas is not a person", []metav1.ManagedFieldsEntry{ours, entry("horizontal-pod-autoscaler", metav1.ManagedFieldsOperationUpdate, "", `{"f:spec":{"f:minReadySeconds":{}}}`)},
			nil, "", nil, nil},
		{"kept for every object", []metav1.ManagedFieldsEntry{ours, entry("kubectl-label", metav1.ManagedFieldsOperationUpdate, "", `{"f:metadata":{"f:labels":{"f:note":{}}}}`)},
			[]string{"kubectl-label"}, "", nil, nil},
		{"kept by the object's annotation", []metav1.ManagedFieldsEntry{ours, entry("kubectl-label", metav1.ManagedFieldsOperationUpdate, "", `{"f:metadata":{"f:labels":{"f:note":{}}}}`)},
			nil, "kubectl-scale, kubectl-label", nil, nil},
		{"kubectl's last-applied annotation is kubectl's bookkeeping", []metav1.ManagedFieldsEntry{ours, entry("kubectl-client-side-apply", metav1.ManagedFieldsOperationUpdate, "",
			`{"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}}}`)},
			nil, "", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet"}}
			live.SetManagedFields(tc.entries)
			applied := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet"}}
			if tc.coOwners != "" {
				applied.SetAnnotations(map[string]string{inventory.AnnotationCoOwners: tc.coOwners})
			}
			got, mgrs := addedByHand(live, nil, applied, tc.keep)
			if !slices.Equal(got, tc.want) || !slices.Equal(mgrs, tc.mgrs) {
				t.Errorf("added = %q by %q, want %q by %q", got, mgrs, tc.want, tc.mgrs)
			}
		})
	}
}
