package generate

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"modelsync.dev/modelsync/tree/manifest"
)

// The generator writes each object as the content it applies, in the
// shape the API's JSON decodes to: numbers as int64, quantities as their
// canonical strings, unset fields absent. It builds no typed object first:
// converting typed objects by reflection was most of the generator's cost
// (about 60 µs a StatefulSet, against a few for the maps).

// object is a generated object: its type, metadata and other top-level
// fields (spec, data, rules).
func object(apiVersion, kind string, meta map[string]any, fields map[string]any) *unstructured.Unstructured {
	fields["apiVersion"] = apiVersion
	fields["kind"] = kind
	fields["metadata"] = meta
	return &unstructured.Unstructured{Object: fields}
}

// newObject is an object whose content is its spec.
func newObject(apiVersion, kind, ns, name string, labels, annotations map[string]string, spec map[string]any) *unstructured.Unstructured {
	return object(apiVersion, kind, meta(name, ns, labels, annotations), map[string]any{"spec": spec})
}

// meta is metadata with what is set of name, namespace, labels and
// annotations (a pod template's has neither name nor namespace).
func meta(name, ns string, labels, annotations map[string]string) map[string]any {
	m := map[string]any{}
	if name != "" {
		m["name"] = name
	}
	if ns != "" {
		m["namespace"] = ns
	}
	if len(labels) > 0 {
		m["labels"] = strs(labels)
	}
	if len(annotations) > 0 {
		m["annotations"] = strs(annotations)
	}
	return m
}

// strs is a map of strings as content.
func strs(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// list is a list of strings as content.
func list(s ...string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// content converts values written by hand in a Model (an env entry, a
// toleration) that the generator passes through as they are.
func content[T any](values []T) ([]any, error) {
	out := make([]any, 0, len(values))
	for i := range values {
		c, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&values[i])
		if err != nil {
			return nil, err
		}
		manifest.DropEmpty(c, nil)
		out = append(out, c)
	}
	return out, nil
}
