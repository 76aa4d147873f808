package diff_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/testing/objtest"
)

// The fingerprint changes exactly when what a server-side apply would do can.
func TestNoFingerprintForSecrets(t *testing.T) {
	s := objtest.Object(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: s, uid: u1}\ndata: {token: c2hvcnQ=}\n")
	if fp := diff.Fingerprint(s, s); fp != "" {
		t.Errorf("a Secret's fingerprint %q, want none", fp)
	}
}

func TestFingerprint(t *testing.T) {
	const config = "apiVersion: v1\nkind: Service\nmetadata: {name: s, labels: {part-of: set}}\nspec: {ports: [{port: 80}]}\n"
	const live = `apiVersion: v1
kind: Service
metadata:
  name: s
  uid: u1
  resourceVersion: "10"
  creationTimestamp: "2026-11-21T00:00:00Z"
  labels: {part-of: set}
  managedFields:
  - {manager: modelsync, operation: Apply, apiVersion: v1, time: "2026-11-21T00:00:00Z", fieldsType: FieldsV1, fieldsV1: {"f:spec": {"f:ports": {}}}}
  - {manager: controller, operation: Update, apiVersion: v1, time: "2026-11-21T00:00:00Z", subresource: status, fieldsType: FieldsV1, fieldsV1: {"f:status": {}}}
spec: {ports: [{port: 80, protocol: TCP}], clusterIP: 10.0.0.1}
status: {loadBalancer: {}}
`
	base := diff.Fingerprint(objtest.Object(t, config), objtest.Object(t, live))
	for _, tc := range []struct {
		name   string
		change func(c, l *unstructured.Unstructured)
		same   bool
	}{
		{"nothing", func(c, l *unstructured.Unstructured) {}, true},
		{"resourceVersion", func(c, l *unstructured.Unstructured) { l.SetResourceVersion("11") }, true},
		{"status", func(c, l *unstructured.Unstructured) { l.Object["status"] = map[string]any{"conditions": []any{}} }, true},
		{"status manager's entry", func(c, l *unstructured.Unstructured) {
			mf := l.GetManagedFields()
			mf[1].FieldsV1.Raw = []byte(`{"f:status":{"f:conditions":{}}}`)
			l.SetManagedFields(mf)
		}, true},
		{"an entry's time", func(c, l *unstructured.Unstructured) {
			mf := l.GetManagedFields()
			mf[0].Time = nil
			l.SetManagedFields(mf)
		}, true},
		{"configuration", func(c, l *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(c.Object, "ClusterIP", "spec", "type")
		}, false},
		{"spec by hand", func(c, l *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(l.Object, "None", "spec", "clusterIP")
		}, false},
		{"label added", func(c, l *unstructured.Unstructured) { l.SetLabels(map[string]string{"part-of": "set", "team": "gpu"}) }, false},
		{"annotation added", func(c, l *unstructured.Unstructured) { l.SetAnnotations(map[string]string{"a": "b"}) }, false},
		{"recreated", func(c, l *unstructured.Unstructured) { l.SetUID("u2") }, false},
		{"deleting", func(c, l *unstructured.Unstructured) { l.SetFinalizers([]string{"x"}) }, false},
		{"another owner", func(c, l *unstructured.Unstructured) {
			mf := l.GetManagedFields()
			mf[0].Manager = "kubectl-edit"
			l.SetManagedFields(mf)
		}, false},
		{"fields owned", func(c, l *unstructured.Unstructured) {
			mf := l.GetManagedFields()
			mf[0].FieldsV1.Raw = []byte(`{"f:spec":{}}`)
			l.SetManagedFields(mf)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, l := objtest.Object(t, config), objtest.Object(t, live)
			tc.change(c, l)
			if got := diff.Fingerprint(c, l) == base; got != tc.same {
				t.Errorf("fingerprint unchanged = %v, want %v", got, tc.same)
			}
		})
	}
}
