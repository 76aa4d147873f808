package importer_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/tree/importer"
	"modelsync.dev/modelsync/tree/manifest"
)

func runbook(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	objs, err := manifest.Load(t.Context(), manifest.Tree{FS: os.DirFS("../../testdata"), Root: "runbook"})
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
		{"the runbook as written", nil, "minimax qwen3-embedding-8b qwen3-nairr", ""},
		{"a Service that selects nothing of the name", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			for _, o := range objs {
				if o.GetKind() == "Service" && o.GetName() == "minimax-vllm-inference" {
					_ = unstructured.SetNestedStringMap(o.Object, map[string]string{"app": "other"}, "spec", "selector")
				}
			}
			return objs
		}, "qwen3-embedding-8b qwen3-nairr", "StatefulSet minimax-vllm-inference stays raw: no Service named minimax-vllm-inference selects app=minimax-vllm-inference"},
		{"a /dev/shm without a size limit, as teams often write it", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			for _, o := range objs {
				if o.GetKind() == "StatefulSet" && o.GetName() == "minimax-vllm-inference" {
					vs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "volumes")
					for _, v := range vs {
						if v.(map[string]any)["name"] == "shm" {
							unstructured.RemoveNestedField(v.(map[string]any), "emptyDir", "sizeLimit")
						}
					}
					_ = unstructured.SetNestedSlice(o.Object, vs, "spec", "template", "spec", "volumes")
				}
			}
			return objs
		}, "minimax qwen3-embedding-8b qwen3-nairr", ""},
		{"a second container", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			for _, o := range objs {
				if o.GetKind() == "StatefulSet" && o.GetName() == "minimax-vllm-inference" {
					cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
					cs = append(cs, map[string]any{"name": "sidecar", "image": "busybox"})
					_ = unstructured.SetNestedSlice(o.Object, cs, "spec", "template", "spec", "containers")
				}
			}
			return objs
		}, "qwen3-embedding-8b qwen3-nairr", "a Model generates one container"},
		{"a hand-set readiness period", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			for _, o := range objs {
				if o.GetKind() == "StatefulSet" && o.GetName() == "minimax-vllm-inference" {
					cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
					_ = unstructured.SetNestedField(cs[0].(map[string]any), int64(5), "readinessProbe", "periodSeconds")
					_ = unstructured.SetNestedSlice(o.Object, cs, "spec", "template", "spec", "containers")
				}
			}
			return objs
		}, "qwen3-embedding-8b qwen3-nairr", "the Model would change StatefulSet/minimax-vllm-inference"},
		{"a Secret and a controller's Pod", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			secret := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "openai-apikey", "namespace": "nrp-llm"}}}
			pod := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p", "namespace": "nrp-llm",
				"ownerReferences": []any{map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "x", "uid": "u"}}}}}
			return append(objs, secret, pod)
		}, "minimax qwen3-embedding-8b qwen3-nairr", "Secret openai-apikey left out: Secrets stay out of git"},
		{"a hand-written claim and Job beside a StatefulSet's claim", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			obj := func(kind, name string) *unstructured.Unstructured {
				return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": kind, "metadata": map[string]any{"name": name, "namespace": "nrp-llm"},
					"spec": map[string]any{"accessModes": []any{"ReadWriteOnce"}, "resources": map[string]any{"requests": map[string]any{"storage": "10Gi"}}}}}
			}
			job := obj("Job", "warmup")
			job.SetAPIVersion("batch/v1")
			return append(objs, obj("PersistentVolumeClaim", "shared-cache"), job, obj("PersistentVolumeClaim", "minimax-inference-volume-minimax-vllm-inference-0"))
		}, "minimax qwen3-embedding-8b qwen3-nairr", "Job warmup left out: a Job runs once to completion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := runbook(t)
			if tt.change != nil {
				objs = tt.change(objs)
			}
			res, err := importer.Import(t.Context(), objs, "nrp-llm", importer.Options{Applied: importer.Offline})
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
			if strings.Contains(tt.name, "claim") {
				var paths []string
				for _, f := range res.Files {
					paths = append(paths, f.Path)
				}
				if !slices.Contains(paths, "persistentvolumeclaim/shared-cache.yaml") || slices.Contains(paths, "persistentvolumeclaim/minimax-inference-volume-minimax-vllm-inference-0.yaml") {
					t.Errorf("want the hand-written claim written raw and the StatefulSet's claim left out: %v", paths)
				}
				if !strings.Contains(notes, "1 PersistentVolumeClaim") {
					t.Errorf("the StatefulSet's claim is not counted among the objects left out:\n%s", notes)
				}
			}
			for _, f := range res.Files {
				if strings.Contains(string(f.Data), "kind: Secret") || strings.Contains(string(f.Data), "kind: Pod\n") || filepath.Dir(f.Path) == "pod" {
					t.Errorf("%s written", f.Path)
				}
			}
		})
	}
}
