package importer_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/importer"
	"modelsync.dev/modelsync/manifest"
)

func runbook(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	objs, err := manifest.Load(t.Context(), manifest.Tree{FS: os.DirFS("../testdata"), Root: "runbook"})
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		out = append(out, o.Unstructured)
	}
	return out
}

// TestWhatStaysRaw: a server the Model cannot generate exactly stays raw
// with the reason; Secrets are never written, controller-made objects are
// left out silently.
func TestWhatStaysRaw(t *testing.T) {
	tests := []struct {
		name   string
		change func([]*unstructured.Unstructured) []*unstructured.Unstructured
		models string
		note   string
	}{
		{"the runbook as written", nil, "minimax qwen3-embedding-8b", ""},
		{"a Service that selects nothing of the name", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			for _, o := range objs {
				if o.GetKind() == "Service" && o.GetName() == "minimax-vllm-inference" {
					_ = unstructured.SetNestedStringMap(o.Object, map[string]string{"app": "other"}, "spec", "selector")
				}
			}
			return objs
		}, "qwen3-embedding-8b", "StatefulSet minimax-vllm-inference stays raw: no Service named minimax-vllm-inference selects app=minimax-vllm-inference"},
		{"a second container", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			for _, o := range objs {
				if o.GetKind() == "StatefulSet" && o.GetName() == "minimax-vllm-inference" {
					cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
					cs = append(cs, map[string]any{"name": "sidecar", "image": "busybox"})
					_ = unstructured.SetNestedSlice(o.Object, cs, "spec", "template", "spec", "containers")
				}
			}
			return objs
		}, "qwen3-embedding-8b", "a Model generates one container"},
		{"a hand-set readiness period", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			for _, o := range objs {
				if o.GetKind() == "StatefulSet" && o.GetName() == "minimax-vllm-inference" {
					cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
					_ = unstructured.SetNestedField(cs[0].(map[string]any), int64(5), "readinessProbe", "periodSeconds")
					_ = unstructured.SetNestedSlice(o.Object, cs, "spec", "template", "spec", "containers")
				}
			}
			return objs
		}, "qwen3-embedding-8b", "the Model would change StatefulSet/minimax-vllm-inference"},
		{"a Secret and a controller's Pod", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			secret := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "openai-apikey", "namespace": "nrp-llm"}}}
			pod := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p", "namespace": "nrp-llm",
				"ownerReferences": []any{map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "x", "uid": "u"}}}}}
			return append(objs, secret, pod)
		}, "minimax qwen3-embedding-8b", "Secret openai-apikey left out: Secrets stay out of git"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := runbook(t)
			if tt.change != nil {
				objs = tt.change(objs)
			}
			res, err := importer.Import(t.Context(), objs, "nrp-llm", importer.Offline)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(slices.Sorted(slices.Values(res.Models)), " "); got != tt.models {
				t.Errorf("Models %q, want %q; notes:\n%s", got, tt.models, strings.Join(res.Notes, "\n"))
			}
			notes := strings.Join(res.Notes, "\n")
			if tt.note == "" && notes != "" || !strings.Contains(notes, tt.note) {
				t.Errorf("notes:\n%s\nwant %q", notes, tt.note)
			}
			for _, f := range res.Files {
				if strings.Contains(string(f.Data), "kind: Secret") || strings.Contains(string(f.Data), "kind: Pod\n") || filepath.Dir(f.Path) == "pod" {
					t.Errorf("%s written", f.Path)
				}
			}
		})
	}
}
