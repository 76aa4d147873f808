package kubetest

import (
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// GitRepo makes root a git repository and returns commit, which commits
// everything below root and returns the commit's hash.
func GitRepo(t testing.TB, root string) (commit func(msg string) string) {
	t.Helper()
	repo, err := git.PlainInit(root, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	return func(msg string) string {
		t.Helper()
		if _, err := wt.Add("."); err != nil {
			t.Fatal(err)
		}
		h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Now()}})
		if err != nil {
			t.Fatal(err)
		}
		return h.String()
	}
}

// ExternalModel is the Model file of a model served elsewhere, whose rule
// goes to route group route.
func ExternalModel(name, route string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("apiVersion: modelsync.dev/v1alpha1\nkind: Model\nmetadata:\n  name: " + name +
		"\nspec:\n  upstream: org/" + name + "\n  route: " + route + "\n  external: {hostname: " + name + ".example, port: 443}\n")}
}
