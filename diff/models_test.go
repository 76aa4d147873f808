package diff

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestModelVerdict(t *testing.T) {
	for _, tc := range []struct {
		actions []Action
		want    ModelVerdict
	}{
		{[]Action{Create, Create}, "added"},
		{[]Action{Prune, Prune}, "removed"},
		{[]Action{Update, Replace}, "replaced"},
		{[]Action{Update, Create}, "changed"},
		{[]Action{Conflict}, "changed"},
	} {
		if got := modelVerdict(tc.actions); got != tc.want {
			t.Errorf("modelVerdict(%v) = %s, want %s", tc.actions, got, tc.want)
		}
	}
}

// TestWhatChanged: a changed model says what changed, read from its
// workload's pod template, live against predicted.
func TestWhatChanged(t *testing.T) {
	sts := func(edit func(c map[string]any, spec map[string]any)) *unstructured.Unstructured {
		c := map[string]any{"name": "vllm", "image": "vllm:1", "args": []any{"serve --tp 4"}, "resources": map[string]any{"limits": map[string]any{"nvidia.com/gpu": "4"}}}
		spec := map[string]any{"containers": []any{c}}
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": map[string]any{"name": "s"},
			"spec": map[string]any{"replicas": int64(1), "template": map[string]any{"spec": spec}}}}
		if edit != nil {
			edit(c, spec)
		}
		return u
	}
	tests := []struct {
		name string
		edit func(c, spec map[string]any)
		want []string
	}{
		{"nothing", nil, nil},
		{"image", func(c, _ map[string]any) { c["image"] = "vllm:2" }, []string{"image"}},
		{"engine flags", func(c, _ map[string]any) { c["args"] = []any{"serve --tp 8"} }, []string{"engine flags"}},
		{"GPUs", func(c, _ map[string]any) {
			c["resources"] = map[string]any{"limits": map[string]any{"nvidia.com/gpu": "8"}}
		}, []string{"hardware"}},
		{"a node selector and the image", func(c, spec map[string]any) { c["image"] = "vllm:2"; spec["nodeSelector"] = map[string]any{"a": "b"} }, []string{"image", "hardware"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := whatChanged(Prediction{Change: Change{Action: Update}, Live: sts(nil), Predicted: sts(tt.edit)})
			if !slices.Equal(got, tt.want) {
				t.Errorf("whatChanged = %v, want %v", got, tt.want)
			}
		})
	}
	replicas := sts(nil)
	_ = unstructured.SetNestedField(replicas.Object, int64(3), "spec", "replicas")
	if got := whatChanged(Prediction{Change: Change{Action: Update}, Live: sts(nil), Predicted: replicas}); !slices.Equal(got, []string{"replicas"}) {
		t.Errorf("replicas: %v", got)
	}
}
