package importer_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/importer"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/modelfiles"
	"modelsync.dev/modelsync/tree/validation"
)

// minimaxFacts are MiniMax-M2.5's facts as a lock holds them: its real
// config.json, and weights of 214.32 GiB.
func minimaxFacts(t *testing.T, commit string) *modelfiles.Facts {
	t.Helper()
	data, err := os.ReadFile("../../testdata/model-configs/MiniMaxAI--MiniMax-M2.5.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := modelfiles.ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	return &modelfiles.Facts{Commit: commit, Config: cfg, WeightsBytes: 230_121_680_322, Parameters: 228_703_644_928, Shards: 126}
}

// TestImportReadsTheModelsFiles: with the model's files, import sizes the
// Model from them instead of the claim; when the engine line pins a
// revision, the Model keeps it and the sizes go to the lock, and the tree
// renders the runbook's StatefulSet again.
func TestImportReadsTheModelsFiles(t *testing.T) {
	const commit = "0123456789abcdef0123456789abcdef01234567"
	var asked []string
	facts := func(_ context.Context, repo, revision string) (*modelfiles.Facts, error) {
		asked = append(asked, repo+"@"+revision)
		if repo != "MiniMaxAI/MiniMax-M2.5" {
			return nil, errors.New("gated or private: set HF_TOKEN")
		}
		return minimaxFacts(t, commit), nil
	}

	res, err := importer.Import(t.Context(), runbook(t), "nrp-llm", importer.Options{Applied: importer.Offline, Facts: facts})
	if err != nil {
		t.Fatal(err)
	}
	m := file(t, res, "models/minimax.yaml")
	if !strings.Contains(m, "sizes are from the model's files at commit "+commit) || !strings.Contains(m, "weightsGi: 214.32") || !strings.Contains(m, "paramsB: 228.7") {
		t.Errorf("unpinned: the Model is not sized from the files:\n%s", m)
	}
	if len(res.Lock.Models) != 0 || !strings.Contains(strings.Join(asked, " "), "MiniMaxAI/MiniMax-M2.5@main") {
		t.Errorf("unpinned: asked %v, locked %v", asked, res.Lock.Models)
	}
	if notes := strings.Join(res.Notes, "\n"); !strings.Contains(notes, "Model qwen3-embedding-8b: weightsGi and paramsB estimated from the claim size: gated or private: set HF_TOKEN") {
		t.Errorf("a model whose files cannot be read is not said to be estimated:\n%s", notes)
	}

	// The runbook's line pinned to a commit.
	objs := runbook(t)
	for _, o := range objs {
		if o.GetKind() == "StatefulSet" {
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			args := cs[0].(map[string]any)["args"].([]any)
			args[0] = strings.Replace(args[0].(string), "--model MiniMaxAI/MiniMax-M2.5", "--model MiniMaxAI/MiniMax-M2.5 --revision "+commit, 1)
			_ = unstructured.SetNestedSlice(o.Object, cs, "spec", "template", "spec", "containers")
		}
	}
	res, err = importer.Import(t.Context(), objs, "nrp-llm", importer.Options{Applied: importer.Offline, Facts: facts})
	if err != nil {
		t.Fatal(err)
	}
	m = file(t, res, "models/minimax.yaml")
	if !strings.Contains(m, "revision: "+commit) || strings.Contains(m, "weightsGi") || strings.Contains(m, "paramsB") {
		t.Errorf("pinned: want the revision and no hand sizes:\n%s", m)
	}
	if res.Lock.Models["MiniMaxAI/MiniMax-M2.5@"+commit] == nil {
		t.Fatalf("pinned: nothing locked: %v", res.Lock.Models)
	}
	// The tree with its lock generates the StatefulSet the runbook runs.
	lock, err := res.Lock.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tree := fstest.MapFS{"models-config/" + modelfiles.LockFile: {Data: lock}}
	for _, f := range res.Files {
		tree["models-config/"+f.Path] = &fstest.MapFile{Data: f.Data}
	}
	set, err := desired.Load(t.Context(), manifest.Tree{FS: tree, Root: "models-config"}, desired.Options{Namespace: "nrp-llm"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range set.Diagnostics {
		if d.Severity == validation.Error {
			t.Errorf("the imported tree: %s", d)
		}
	}
	var runbookSTS *unstructured.Unstructured
	for _, l := range objs {
		if l.GetKind() == "StatefulSet" && l.GetName() == "minimax-vllm-inference" {
			runbookSTS = l
		}
	}
	found := false
	for _, o := range set.Objects {
		if o.GetKind() != "StatefulSet" || o.GetName() != "minimax-vllm-inference" {
			continue
		}
		found = true
		for _, path := range [][]string{
			{"spec", "template", "spec", "containers"},
			{"spec", "volumeClaimTemplates"},
		} {
			got, _, _ := unstructured.NestedFieldCopy(o.Object, path...)
			want, _, _ := unstructured.NestedFieldCopy(runbookSTS.Object, path...)
			a, _ := yaml.Marshal(got)
			b, _ := yaml.Marshal(want)
			for _, line := range []string{"--revision " + commit, "memory: 360Gi", "storage: 256Gi", "failureThreshold: 90"} {
				if strings.Contains(string(b), line) && !strings.Contains(string(a), line) {
					t.Errorf("%v of the rendered StatefulSet lacks %q that the runbook's has:\n%s", path, line, a)
				}
			}
		}
	}
	if !found {
		t.Error("the imported tree renders no minimax StatefulSet")
	}
}

func file(t *testing.T, res *importer.Result, path string) string {
	t.Helper()
	for _, f := range res.Files {
		if f.Path == path {
			return string(f.Data)
		}
	}
	t.Fatalf("no %s among %d files; notes:\n%s", path, len(res.Files), strings.Join(res.Notes, "\n"))
	return ""
}
