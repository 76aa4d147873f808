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

	"modelsync.dev/modelsync/model"
)

// leaveOut says why an object of the namespace is not part of the tree: "" to
// keep it, a reason to report, or "-" for what Kubernetes itself makes.
func leaveOut(u *unstructured.Unstructured) string {
	switch {
	case len(u.GetOwnerReferences()) > 0:
		return "-" // made by a controller from its owner
	case made[u.GetKind()]:
		return "-"
	case u.GetKind() == "ServiceAccount" && u.GetName() == "default",
		u.GetKind() == "ConfigMap" && u.GetName() == "kube-root-ca.crt":
		return "-"
	case u.GetKind() == "Secret":
		return "Secrets stay out of git; keep creating them by hand or with the cluster's secret manager"
	}
	return ""
}

// made are kinds Kubernetes makes or that hold run-time state, never written
// by an operator: claims belong to their StatefulSet's volumeClaimTemplates.
var made = map[string]bool{
	"Pod": true, "Event": true, "Endpoints": true, "EndpointSlice": true, "ControllerRevision": true,
	"ReplicaSet": true, "Lease": true, "PersistentVolumeClaim": true, "Job": true,
	"PodMetrics": true, "LocalSubjectAccessReview": true, "Binding": true,
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
	dropNull(out)
	return out, nil
}

// dropNull removes null values and the creationTimestamp: null of typed
// templates, which mean "unset" as much as an absent field.
func dropNull(m map[string]any) {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			dropNull(t)
		case []any:
			for _, e := range t {
				if em, ok := e.(map[string]any); ok {
					dropNull(em)
				}
			}
		}
	}
}

func objectYAML(u *unstructured.Unstructured) ([]byte, error) {
	return yaml.Marshal(u.Object)
}

// modelYAML writes m as a person would: set fields only, with a header
// saying which values are estimates.
func modelYAML(m *model.Model) ([]byte, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	dropEmptyMaps(obj)
	out, err := yaml.Marshal(obj)
	if err != nil {
		return nil, err
	}
	header := "# Imported by modelsync import. weightsGi and paramsB are estimated from the claim size;\n" +
		"# put hf-mem's figures here before changing the hardware, as they size memory, storage and probes.\n"
	return append([]byte(header), out...), nil
}

func dropEmptyMaps(m map[string]any) {
	for k, v := range m {
		if t, ok := v.(map[string]any); ok {
			dropEmptyMaps(t)
			if len(t) == 0 {
				delete(m, k)
			}
		}
	}
}
