package diff_test

import (
	"bytes"
	"strings"
	"testing"
	"testing/fstest"

	"modelsync.dev/modelsync/report"

	"modelsync.dev/modelsync/internal/testing/golden"
)

// TestModelPlansGolden: the plan a reviewer reads, in model terms, for the
// five kinds of model change on the example tree: the models table, the
// GPU totals, and the object diffs grouped under their model.
func TestModelPlansGolden(t *testing.T) {
	e := newEnv(t)
	base := tree(t)
	e.sync(base, false)
	edit := func(files fstest.MapFS, path, old, new string) {
		t.Helper()
		f := files[path]
		if !strings.Contains(string(f.Data), old) {
			t.Fatalf("%s has no %q", path, old)
		}
		files[path] = &fstest.MapFile{Data: []byte(strings.Replace(string(f.Data), old, new, 1))}
	}
	const minimax = "models-config/models/minimax.yaml"
	scenarios := []struct {
		name   string
		change func(fstest.MapFS)
	}{
		{"added", func(files fstest.MapFS) {
			data := strings.NewReplacer("name: qwen3-embedding-8b", "name: e5-mistral", "Qwen/Qwen3-Embedding-8B", "intfloat/e5-mistral-7b-instruct").
				Replace(string(files["models-config/models/qwen3-embedding-8b.yaml"].Data))
			files["models-config/models/e5-mistral.yaml"] = &fstest.MapFile{Data: []byte(data)}
		}},
		{"image", func(files fstest.MapFS) { edit(files, minimax, "vllm/vllm-openai:v0.11.2", "vllm/vllm-openai:v0.12.0") }},
		{"gpu-product", func(files fstest.MapFS) {
			edit(files, minimax, "gpuResource: nvidia.com/a100\n", "gpuProducts: [NVIDIA-H200]\n")
		}},
		{"removed", func(files fstest.MapFS) { delete(files, "models-config/models/qwen3-embedding-8b.yaml") }},
		{"replaced", func(files fstest.MapFS) {
			edit(files, minimax, "storage: 256Gi", "storage: 256Gi\n    storageClass: linstor-unl")
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			files := fstest.MapFS{}
			for k, v := range base {
				files[k] = &fstest.MapFile{Data: v.Data}
			}
			sc.change(files)
			res, _ := e.Plan(files)
			for _, f := range []struct {
				ext   string
				write func(*bytes.Buffer) error
			}{
				{"txt", func(b *bytes.Buffer) error { return report.WriteText(b, res.Plan) }},
				{"md", func(b *bytes.Buffer) error {
					return report.WriteMarkdown(b, res.Plan, report.MarkdownOptions{Marker: "modelsync-plan"})
				}},
			} {
				var buf bytes.Buffer
				if err := f.write(&buf); err != nil {
					t.Fatal(err)
				}
				got := strings.ReplaceAll(strings.ReplaceAll(buf.String(), res.Plan.Inventory, "INVENTORY"), e.NS, "NAMESPACE")
				golden.Check(t, goldenFile("models-"+sc.name+"."+f.ext), []byte(got))
			}
			if len(res.Plan.Models) != 1 {
				t.Errorf("the plan touches %d models, want 1: %+v", len(res.Plan.Models), res.Plan.Models)
			}
		})
	}
}
