package manifest_test

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/tree/manifest"
)

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func names(t *testing.T, tree manifest.Tree) []string {
	t.Helper()
	objs, err := manifest.Load(t.Context(), tree)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.GetName()+"@"+o.Origin.String())
	}
	sort.Strings(out)
	return out
}

func cm(name string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n"
}

func TestLoadBuildsKustomizations(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "models-config")
	write(t, dir, map[string]string{
		"plain.yaml":              cm("plain"),
		"notes.txt":               "not a manifest",
		"kust/kustomization.yaml": "resources: [a.yaml]\nnamePrefix: k-\n",
		"kust/a.yaml":             cm("a"),
		".hidden/ignored.yaml":    cm("hidden"),
	})
	tree, err := manifest.WorkTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"k-a@models-config/kust/kustomization.yaml", "plain@models-config/plain.yaml:1"}
	if d := cmp.Diff(want, names(t, tree)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// TestAtRevisionReadsGitHistory: --revision reads the tree at a commit through
// go-git, without touching the work tree.
func TestAtRevisionReadsGitHistory(t *testing.T) {
	root := t.TempDir()
	commit := kubetest.GitRepo(t, root)
	dir := filepath.Join(root, "models-config")
	write(t, dir, map[string]string{"a.yaml": cm("first")})
	first := commit("first")
	write(t, dir, map[string]string{"a.yaml": cm("second")})
	second := commit("second")
	write(t, dir, map[string]string{"a.yaml": cm("uncommitted")})

	old, err := manifest.AtRevision(dir, "HEAD~1")
	if err != nil {
		t.Fatal(err)
	}
	if old.Revision != first {
		t.Errorf("revision = %s, want %s", old.Revision, first)
	}
	if d := cmp.Diff([]string{"first@models-config/a.yaml:1"}, names(t, old)); d != "" {
		t.Errorf("HEAD~1 (-want +got):\n%s", d)
	}
	work, err := manifest.WorkTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	if work.Revision != second || !work.Dirty {
		t.Errorf("work tree revision %s dirty %v, want %s dirty", work.Revision, work.Dirty, second)
	}
	if d := cmp.Diff([]string{"uncommitted@models-config/a.yaml:1"}, names(t, work)); d != "" {
		t.Errorf("work tree (-want +got):\n%s", d)
	}
	if _, err := manifest.AtRevision(dir, "no-such-branch"); err == nil {
		t.Error("an unknown revision was accepted")
	}
}

// A repository is named the same from a CI clone and a person's clone.
func TestRepositoryName(t *testing.T) {
	for _, url := range []string{
		"https://gitlab-ci-token:glcbt-secret@gitlab.example.com/team/models.git",
		"https://gitlab.example.com/team/models",
		"ssh://git@gitlab.example.com:2222/team/models.git",
		"git@gitlab.example.com:team/models.git",
		"https://GitLab.example.com/team/models/",
	} {
		if got := manifest.RepositoryName(url); got != "gitlab.example.com/team/models" {
			t.Errorf("%s: %s", url, got)
		}
	}
}
