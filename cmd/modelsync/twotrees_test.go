package main

import (
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
)

// gitTree writes files as a git repository whose origin is url, commits
// them, and returns the models-config path.
func gitTree(t *testing.T, files fstest.MapFS, url string) string {
	t.Helper()
	dir := kubetest.WriteTree(t, files)
	commit := kubetest.GitRepo(t, filepath.Dir(dir))
	repo, err := git.PlainOpen(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{url}}); err != nil {
		t.Fatal(err)
	}
	commit("tree")
	return dir
}

// A namespace belongs to one tree: a second repository that includes the
// component with the same namespace is refused by diff and sync, naming
// both trees, and plans none of the first tree's models as removed; the
// first tree's CI clone and a person's clone (credentials in one URL, ssh
// in the other) are the same tree; sync --take-over-namespace hands the
// namespace over.
func TestNamespaceBelongsToOneTree(t *testing.T) {
	ns := kubetest.Namespace(t)
	first := gitTree(t, kubetest.RepoTree(t), "https://gitlab-ci-token:secret@gitlab.example.com/team/models.git")
	firstByHand := gitTree(t, kubetest.RepoTree(t), "git@gitlab.example.com:team/models.git")
	second := gitTree(t, fstest.MapFS{
		"models-config/route.yaml": &fstest.MapFile{Data: []byte("apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIGatewayRoute\nmetadata:\n  name: other\nspec:\n  parentRefs:\n  - name: gw\n")},
		"models-config/m.yaml":     kubetest.ExternalModel("other-model", "other"),
	}, "https://gitlab.example.com/other-team/models.git")

	if code, out, stderr := run("sync", "--kubeconfig", kubetest.KubeconfigFile(t), "-n", ns, "--path", first); code != 0 {
		t.Fatalf("sync of the first tree: exit %d\n%s%s", code, out, stderr)
	}
	admin := kubernetes.NewForConfigOrDie(kubetest.Config(t))
	parent, err := admin.CoreV1().Secrets(ns).Get(t.Context(), inventory.DefaultName, metav1.GetOptions{})
	if err != nil || parent.Annotations[inventory.AnnotationTree] != "gitlab.example.com/team/models:models-config" {
		t.Fatalf("the inventory's tree: %v, %v", parent.Annotations[inventory.AnnotationTree], err)
	}
	if code, out, stderr := run("diff", "--kubeconfig", kubetest.KubeconfigFile(t), "-n", ns, "--path", firstByHand); code != 0 {
		t.Errorf("diff of the same tree from another clone: exit %d\n%s%s", code, out, stderr)
	}
	want := "the namespace belongs to another tree, nothing was changed: it is synced from gitlab.example.com/team/models:models-config, and this is gitlab.example.com/other-team/models:models-config"
	for _, verb := range []string{"diff", "sync"} {
		code, out, stderr := run(verb, "--kubeconfig", kubetest.KubeconfigFile(t), "-n", ns, "--path", second)
		if code < 2 || !strings.Contains(stderr, want) || strings.Contains(out, "prune") {
			t.Errorf("%s of a second tree on the namespace: exit %d, want the refusal %q\n%s%s", verb, code, want, out, stderr)
		}
	}
	if code, out, stderr := run("sync", "--kubeconfig", kubetest.KubeconfigFile(t), "-n", ns, "--path", second, "--take-over-namespace"); code != 0 {
		t.Fatalf("sync --take-over-namespace: exit %d\n%s%s", code, out, stderr)
	}
	if code, _, stderr := run("diff", "--kubeconfig", kubetest.KubeconfigFile(t), "-n", ns, "--path", first); code < 2 || !strings.Contains(stderr, "it is synced from gitlab.example.com/other-team/models:models-config") {
		t.Errorf("diff of the first tree after the hand-over: exit %d\n%s", code, stderr)
	}
}
