package importer

import (
	"encoding/json"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
)

// leaveOut says why an object of the namespace is not part of the tree: ""
// to keep it, a reason to report, or madeBy for what Kubernetes or a
// controller makes from other objects (counted in one note). claimOf tells
// a claim a StatefulSet made from its volumeClaimTemplates.
func leaveOut(u *unstructured.Unstructured, claimOf func(string) bool) string {
	switch {
	case len(u.GetOwnerReferences()) > 0:
		return madeBy // made by a controller from its owner
	case u.GetKind() == "PersistentVolumeClaim":
		if claimOf(u.GetName()) {
			return madeBy
		}
		return "" // written by hand: a workload of the tree may mount it
	case made[u.GetKind()]:
		return madeBy
	case u.GetKind() == "ServiceAccount" && u.GetName() == "default",
		u.GetKind() == "ConfigMap" && u.GetName() == "kube-root-ca.crt":
		return madeBy
	case u.GetKind() == "Secret":
		return "Secrets stay out of git; keep creating them by hand or with the cluster's secret manager"
	case u.GetKind() == "Job":
		return "a Job runs once to completion and is not desired state (applying it again would not run it again); create it by hand when it is needed"
	}
	return ""
}

// madeBy marks what Kubernetes or a controller makes from other objects.
const madeBy = "-"

// made are kinds Kubernetes makes or that hold run-time state, never written
// by an operator.
var made = map[string]bool{
	"Pod": true, "Event": true, "Endpoints": true, "EndpointSlice": true, "ControllerRevision": true,
	"ReplicaSet": true, "Lease": true, "PodMetrics": true, "LocalSubjectAccessReview": true, "Binding": true,
}

// statefulSetClaims tells whether a claim name is one a StatefulSet of objs
// makes from a claim template: <template>-<statefulset>-<ordinal>.
func statefulSetClaims(objs []*unstructured.Unstructured) func(string) bool {
	var prefixes []string
	for _, u := range objs {
		if u.GetKind() != "StatefulSet" {
			continue
		}
		vcts, _, _ := unstructured.NestedSlice(u.Object, "spec", "volumeClaimTemplates")
		for _, v := range vcts {
			if m, ok := v.(map[string]any); ok {
				name, _, _ := unstructured.NestedString(m, "metadata", "name")
				prefixes = append(prefixes, name+"-"+u.GetName()+"-")
			}
		}
	}
	return func(claim string) bool {
		for _, p := range prefixes {
			if ordinal, ok := strings.CutPrefix(claim, p); ok && ordinal != "" && strings.Trim(ordinal, "0123456789") == "" {
				return true
			}
		}
		return false
	}
}

// clean is the object as it is written into the tree: what `kubectl apply`
// last applied when it was applied that way, else the object without what
// the API server set (status, identity, clusterIP).
func clean(u *unstructured.Unstructured, ns string) *unstructured.Unstructured {
	if s, ok := u.GetAnnotations()[corev1.LastAppliedConfigAnnotation]; ok {
		var obj map[string]any
		if utiljson.Unmarshal([]byte(s), &obj) == nil { // numbers stay int64
			c := &unstructured.Unstructured{Object: obj}
			c.SetNamespace(ns)
			return c
		}
	}
	c := u.DeepCopy()
	c.Object["metadata"] = map[string]any{}
	c.SetName(u.GetName())
	c.SetNamespace(ns)
	c.SetLabels(u.GetLabels())
	if a := userAnnotations(u.GetAnnotations()); len(a) > 0 {
		c.SetAnnotations(a)
	}
	delete(c.Object, "status")
	if u.GetKind() == "Service" {
		unstructured.RemoveNestedField(c.Object, "spec", "clusterIP")
		unstructured.RemoveNestedField(c.Object, "spec", "clusterIPs")
	}
	return c
}

// userAnnotations drops the annotations tools and controllers write.
func userAnnotations(a map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		if k == corev1.LastAppliedConfigAnnotation || strings.HasPrefix(k, "deployment.kubernetes.io/") || strings.HasPrefix(k, "applyset.kubernetes.io/") {
			continue
		}
		out[k] = v
	}
	return out
}

// comparable is u reduced to what a generated object must reproduce: its
// labels (but modelsync's own), annotations a user wrote, and spec. Kinds the
// client knows pass through their Go type, so 28 and "28" CPUs are one value.
func comparable(u *unstructured.Unstructured) (map[string]any, error) {
	obj := u.DeepCopy().Object
	if typed, err := scheme.Scheme.New(u.GroupVersionKind()); err == nil {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, typed); err != nil {
			return nil, err
		}
		if obj, err = runtime.DefaultUnstructuredConverter.ToUnstructured(typed); err != nil {
			return nil, err
		}
	}
	c := &unstructured.Unstructured{Object: obj}
	labels := c.GetLabels()
	delete(labels, model.LabelModel)
	for k := range labels {
		if strings.HasPrefix(k, "applyset.kubernetes.io/") {
			delete(labels, k)
		}
	}
	out := map[string]any{"spec": obj["spec"]}
	if len(labels) > 0 {
		out["labels"] = labels
	}
	if a := userAnnotations(c.GetAnnotations()); len(a) > 0 {
		out["annotations"] = a
	}
	if spec, ok := out["spec"].(map[string]any); ok && u.GetKind() == "Service" {
		delete(spec, "clusterIP")
		delete(spec, "clusterIPs")
	}
	manifest.DropEmpty(out, nil)
	return out, nil
}

func objectYAML(u *unstructured.Unstructured) ([]byte, error) {
	return yaml.Marshal(u.Object)
}

// modelYAML writes m as a person would: set fields only, with a header
// saying which values are estimates.
func modelYAML(m *model.Model, commit string) ([]byte, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	manifest.DropEmpty(obj, manifest.AnyKey)
	out, err := yaml.Marshal(obj)
	if err != nil {
		return nil, err
	}
	switch {
	case m.Spec.Server == nil:
		return append([]byte("# Imported by modelsync import.\n"), out...), nil
	case commit != "":
		header := "# Imported by modelsync import. The sizes are from the model's files at commit " + commit + ".\n"
		return append([]byte(header), out...), nil
	}
	header := "# Imported by modelsync import. weightsGi and paramsB are estimated from the claim size;\n" +
		"# put hf-mem's figures here before changing the hardware, as they size memory, storage and probes.\n"
	return append([]byte(header), out...), nil
}
