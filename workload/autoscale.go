package workload

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/tree/manifest"
)

// autoscalers are the kinds that own the replicas of the workload their
// spec.scaleTargetRef names: Kubernetes' HorizontalPodAutoscaler and KEDA's
// ScaledObject (which drives one). Each writes through the scale
// subresource, which records no field manager.
var autoscalers = map[schema.GroupKind]bool{
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}: true,
	{Group: "keda.sh", Kind: "ScaledObject"}:                true,
}

// LeaveReplicas leaves spec.replicas of each workload of objs that an
// autoscaler of objs targets to that autoscaler: the workload's copy in objs
// no longer sets it, so no apply writes the count back. It returns the
// workloads left, each with its autoscaler ("HorizontalPodAutoscaler qwen3").
func LeaveReplicas(objs []manifest.Object) map[manifest.ID]string {
	targets := map[manifest.ID]string{}
	for _, o := range objs {
		if !autoscalers[o.GroupVersionKind().GroupKind()] {
			continue
		}
		ref, _, _ := unstructured.NestedMap(o.Object, "spec", "scaleTargetRef")
		kind, _ := ref["kind"].(string)
		name, _ := ref["name"].(string)
		version, _ := ref["apiVersion"].(string)
		if o.GetKind() == "ScaledObject" && kind == "" { // KEDA's defaults
			kind, version = "Deployment", "apps/v1"
		}
		gv, err := schema.ParseGroupVersion(version)
		if name == "" || kind == "" || err != nil {
			continue
		}
		targets[manifest.ID{Group: gv.Group, Kind: kind, Namespace: o.GetNamespace(), Name: name}] = o.GetKind() + " " + o.GetName()
	}
	left := map[manifest.ID]string{}
	for i, o := range objs {
		by, ok := targets[o.ID()]
		if !ok || !Is(o.Unstructured) {
			continue
		}
		if _, set, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "replicas"); set {
			objs[i].Unstructured = o.DeepCopy() // the tree's object may be shared between builds
			unstructured.RemoveNestedField(objs[i].Object, "spec", "replicas")
		}
		left[o.ID()] = by
	}
	return left
}

// OwnsReplicas reports whether manager's apply entry in u's managed fields
// holds spec.replicas: dropped from its configuration, the next apply would
// remove the field, and the API server default it back (to 1).
func OwnsReplicas(u *unstructured.Unstructured, manager string) bool {
	for _, mf := range u.GetManagedFields() {
		if mf.Manager != manager || mf.Operation != metav1.ManagedFieldsOperationApply || mf.Subresource != "" || mf.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Spec map[string]json.RawMessage `json:"f:spec"`
		}
		if json.Unmarshal(mf.FieldsV1.Raw, &fields) == nil {
			_, ok := fields.Spec["f:replicas"]
			return ok
		}
	}
	return false
}
