package sync

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// ownedConfig reads modelsync's own configuration back from an object: the
// fields its apply entry names, with their live values, and nothing another
// manager or the server added.
func TestOwnedConfig(t *testing.T) {
	live := `
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: s
  namespace: ns
  labels: {mine: a, theirs: b}
  resourceVersion: "7"
spec:
  replicas: 1
  serviceName: svc
  template:
    spec:
      containers:
      - {name: vllm, image: v1, imagePullPolicy: Always, env: [{name: A, value: "1"}, {name: B, value: "2"}]}
      - {name: sidecar, image: s1}
      tolerations: [x, y]
status: {replicas: 1}
`
	fields := `{"f:metadata":{"f:labels":{"f:mine":{}}},"f:spec":{"f:serviceName":{},"f:template":{"f:spec":{
		"f:containers":{"k:{\"name\":\"vllm\"}":{".":{},"f:name":{},"f:image":{},"f:env":{"k:{\"name\":\"A\"}":{".":{},"f:name":{},"f:value":{}}}}},
		"f:tolerations":{"v:\"x\"":{}}}}}}`
	want := `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: s, namespace: ns, labels: {mine: a}}
spec:
  serviceName: svc
  template:
    spec:
      containers:
      - {name: vllm, image: v1, env: [{name: A, value: "1"}]}
      tolerations: [x]
`
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(live), &u.Object); err != nil {
		t.Fatal(err)
	}
	entry := metav1.ManagedFieldsEntry{Manager: "modelsync", Operation: metav1.ManagedFieldsOperationApply, APIVersion: "apps/v1", FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
	other := metav1.ManagedFieldsEntry{Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "apps/v1", FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:replicas":{}}}`)}}
	u.SetManagedFields([]metav1.ManagedFieldsEntry{other, entry})
	got, err := ownedConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	var w map[string]any
	if err := yaml.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	// Compare as JSON values (numbers and strings as the API server sends them).
	norm := func(v any) any {
		b, _ := json.Marshal(v)
		var out any
		_ = json.Unmarshal(b, &out)
		return out
	}
	if d := cmp.Diff(norm(w), norm(got.Object)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}

	u.SetManagedFields([]metav1.ManagedFieldsEntry{other})
	if _, err := ownedConfig(u); err == nil {
		t.Error("an object modelsync never applied has an owned configuration")
	}
}
