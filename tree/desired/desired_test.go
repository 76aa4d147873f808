package desired_test

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/internal/testing/golden"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
)

const ns = "nrp-llm"

// repoTree copies the engine tests' tree (a frozen copy of models-config/)
// into memory so tests can change it.
func repoTree(t testing.TB) fstest.MapFS { return kubetest.RepoTree(t) }

func load(t testing.TB, files fstest.MapFS) *desired.Set {
	t.Helper()
	set, err := desired.Load(t.Context(), manifest.Tree{FS: files, Root: "models-config"}, desired.Options{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func marshal(t *testing.T, objs []manifest.Object) []byte {
	var b strings.Builder
	for _, o := range objs {
		y, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "---\n# %s\n%s", o.Origin, y)
	}
	return []byte(b.String())
}

// TestRunbookExamplesGolden renders every runbook example: per Model file, the
// objects it generates; plus the shared objects holding their rules and targetRefs.
func TestRunbookExamplesGolden(t *testing.T) {
	set := load(t, kubetest.ModelsConfig(t))
	for _, d := range set.Diagnostics {
		t.Errorf("models-config is not clean: %s", d)
	}
	byFile := map[string][]manifest.Object{}
	for _, o := range set.Objects {
		byFile[o.Origin.File] = append(byFile[o.Origin.File], o)
	}
	for _, m := range set.Models {
		t.Run(m.Name(), func(t *testing.T) {
			golden.Check(t, filepath.Join("..", "..", "testdata", "golden", "models", m.Name()+".yaml"), marshal(t, byFile[m.Origin.File]))
		})
	}
	var shared []manifest.Object
	for _, o := range set.Objects {
		if !strings.HasPrefix(o.Origin.File, "models-config/models/") {
			shared = append(shared, o)
		}
	}
	golden.Check(t, filepath.Join("..", "..", "testdata", "golden", "models", "shared.yaml"), marshal(t, shared))
}

func TestMiniMaxSizedAsRunbook(t *testing.T) {
	set := load(t, repoTree(t))
	for _, o := range set.Objects {
		if o.GetKind() != "StatefulSet" || o.GetName() != "minimax-vllm-inference" {
			continue
		}
		c := o.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
		res := c["resources"].(map[string]any)
		got := []any{res["requests"].(map[string]any)["cpu"], res["limits"].(map[string]any)["cpu"]}
		if d := cmp.Diff([]any{"14", "28"}, got); d != "" {
			t.Errorf("cpu request/limit (-want +got):\n%s", d)
		}
		return
	}
	t.Fatal("no StatefulSet minimax-vllm-inference rendered")
}

// entries lists every object and every keyed list entry of a set.
func entries(set *desired.Set) map[string]string {
	out := map[string]string{}
	for _, o := range set.Objects {
		y, _ := yaml.Marshal(o.Object)
		out[o.ID().String()] = string(y)
		for _, it := range gateway.Items(o.Unstructured) {
			iy, _ := yaml.Marshal(it.Value)
			out[o.ID().String()+" "+it.Noun+" "+it.Key] = string(iy)
		}
	}
	return out
}

// TestDeletingModelRemovesOnlyItsObjects: removing a Model file takes away
// every object and list entry it generated, and changes nothing else.
func TestDeletingModelRemovesOnlyItsObjects(t *testing.T) {
	full := load(t, repoTree(t))
	before := entries(full)
	catalogues := map[string]bool{} // they list every model: they follow (TestCatalogueFollowsTheRoutes)
	for _, o := range full.Objects {
		if _, ok := o.GetAnnotations()[model.AnnotationCatalogue]; ok {
			catalogues[o.ID().String()] = true
		}
	}
	for _, m := range full.Models {
		if m.Name() == "qwen3" || m.Name() == "qwen3-nairr" {
			continue // qwen3-combined depends on them
		}
		t.Run(m.Name(), func(t *testing.T) {
			files := repoTree(t)
			delete(files, m.Origin.File)
			after := entries(load(t, files))
			var removed []string
			for k, v := range before {
				a, ok := after[k]
				switch {
				case !ok:
					removed = append(removed, k)
				case a != v && !containsEntryOf(k, before, after) && !catalogues[k]:
					t.Errorf("%s changed although it does not belong to %s", k, m.Name())
				}
			}
			for k := range after {
				if _, ok := before[k]; !ok {
					t.Errorf("%s appeared after deleting %s", k, m.Name())
				}
			}
			sort.Strings(removed)
			want := generatedBy(full, m.Origin.File)
			if d := cmp.Diff(want, removed); d != "" {
				t.Errorf("removed entries (-want +got):\n%s", d)
			}
		})
	}
}

// containsEntryOf: a shared object's text changes when one of its entries goes.
func containsEntryOf(k string, before, after map[string]string) bool {
	for e := range before {
		if strings.HasPrefix(e, k+" ") {
			if _, still := after[e]; !still {
				return true
			}
		}
	}
	return false
}

// generatedBy lists what the Model file put in the set: its own objects, its
// entries in shared objects, and the shared objects whose every entry is its.
func generatedBy(set *desired.Set, file string) []string {
	var out []string
	mine := map[string]bool{}
	for _, c := range set.Contributions {
		if c.Origin.File == file {
			k := c.Owner.String() + " " + c.Noun + " " + c.Key
			if !mine[k] {
				out = append(out, k)
			}
			mine[k] = true
		}
	}
	for _, o := range set.Objects {
		items := gateway.Items(o.Unstructured)
		onlyMine := len(items) > 0
		for _, it := range items {
			onlyMine = onlyMine && mine[o.ID().String()+" "+it.Noun+" "+it.Key]
		}
		if o.Origin.File == file || onlyMine {
			out = append(out, o.ID().String())
		}
	}
	sort.Strings(out)
	return out
}

// TestCatalogueFollowsTheRoutes: the chat UI's catalogue lists every model
// the routes serve (external ones too), with owner and kind, and
// loses a model when its file goes.
func TestCatalogueFollowsTheRoutes(t *testing.T) {
	files := kubetest.ModelsConfig(t) // models-config/chatbox.yaml is the catalogue
	catalogue := func(files fstest.MapFS) string {
		set := load(t, files)
		for _, o := range set.Objects {
			if o.GetName() == "chatbox-models" {
				data, _, _ := unstructured.NestedString(o.Object, "data", "models.json")
				return data
			}
		}
		t.Fatal("no catalogue ConfigMap in the desired set")
		return ""
	}
	got := catalogue(files)
	for _, want := range []string{
		`"name": "qwen3-embedding-8b",` + "\n    \"owner\": \"NRP\",\n    \"kind\": \"embedding\"",
		`"name": "minimax-m2.5",` + "\n    \"owner\": \"NRP\",\n    \"kind\": \"chat\"",
		`"name": "qwen3-nairr"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("catalogue lacks %s:\n%s", want, got)
		}
	}
	delete(files, "models-config/models/qwen3-embedding-8b.yaml")
	if got := catalogue(files); strings.Contains(got, "qwen3-embedding-8b") {
		t.Errorf("a removed model stays in the catalogue:\n%s", got)
	}
}
