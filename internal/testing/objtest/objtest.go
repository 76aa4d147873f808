// Package objtest builds objects from YAML for table tests.
package objtest

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// Object is the object y describes.
func Object(t testing.TB, y string) *unstructured.Unstructured {
	t.Helper()
	return &unstructured.Unstructured{Object: Map(t, y)}
}

// Map is the map y describes, with whole numbers as int64, as the API
// server gives them.
func Map(t testing.TB, y string) map[string]any {
	t.Helper()
	data, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatalf("%v in:\n%s", err, y)
	}
	var m map[string]any
	if err := utiljson.Unmarshal(data, &m); err != nil {
		t.Fatalf("%v in:\n%s", err, y)
	}
	return m
}
