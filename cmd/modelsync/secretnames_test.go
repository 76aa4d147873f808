package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"modelsync.dev/modelsync/internal/testing/kubetest"
)

// A tree that holds Secrets: modelsync reads them by name (the inventory
// records them) and never lists Secrets, so both identities get exactly the
// tree's Secrets and the inventory by name. The plan identity diffs the
// change of one and the removal of another, and cannot read the gateway's
// API key that a policy of the tree names; the apply identity syncs and
// prunes them.
func TestIdentitiesReadOnlyTheTreesSecrets(t *testing.T) {
	ns := kubetest.Namespace(t)
	files := kubetest.RepoTree(t)
	secret := func(name, value string) []byte {
		return []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name + "\nstringData:\n  token: " + value + "\n")
	}
	dir := kubetest.WriteTree(t, files)
	for name, value := range map[string]string{"hf-token": "hf_first", "old-token": "old_value"} {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), secret(name, value), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	admin := []string{"--kubeconfig", kubetest.KubeconfigFile(t), "-n", ns, "--path", dir}
	if code, _, stderr := run(append([]string{"sync"}, admin...)...); code != 0 {
		t.Fatalf("sync as admin: %s", stderr)
	}
	cs := kubernetes.NewForConfigOrDie(kubetest.Config(t))
	key := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "openai-apikey"}, StringData: map[string]string{"apiKey": "c4n4ry-production-key"}}
	if _, err := cs.CoreV1().Secrets(ns).Create(t.Context(), key, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The merge request changes one Secret and removes the other.
	if err := os.WriteFile(filepath.Join(dir, "hf-token.yaml"), secret("hf-token", "hf_second"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "old-token.yaml")); err != nil {
		t.Fatal(err)
	}

	user := "modelsync-plan-" + ns
	code, out, stderr := run("rbac", "--identity", "plan", "--path", dir, "-n", ns, "--user", user, "--secret", "old-token")
	if code != 0 {
		t.Fatalf("rbac --identity plan: exit %d %s", code, stderr)
	}
	kubetest.Kubectl(t, "", out, "apply", "-f", "-")
	kc, cfg := kubetest.UserKubeconfig(t, user)
	self := kubernetes.NewForConfigOrDie(cfg)
	if err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := self.CoreV1().Secrets(ns).Get(ctx, "hf-token", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatalf("the plan identity never could read the tree's Secret: %v", err)
	}
	for _, name := range []string{"openai-apikey", "default-token", "something-else"} {
		if _, err := self.CoreV1().Secrets(ns).Get(t.Context(), name, metav1.GetOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("the plan identity reads Secret %s: %v, want forbidden", name, err)
		}
	}
	if _, err := self.CoreV1().Secrets(ns).List(t.Context(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the plan identity lists Secrets: %v, want forbidden", err)
	}
	plan := filepath.Join(t.TempDir(), "plan.json")
	target := []string{"--kubeconfig", kc, "-n", ns, "--path", dir}
	code, out, stderr = run(append([]string{"diff", "--plan-out", plan}, target...)...)
	if code != 1 || !strings.Contains(out, "Secret hf-token") || !strings.Contains(out, "Secret old-token") {
		t.Fatalf("diff as the plan identity: exit %d, want 1 with the Secret's update and removal\n%s%s", code, out, stderr)
	}
	if strings.Contains(out+stderr, "hf_second") || strings.Contains(out+stderr, "old_value") || strings.Contains(out+stderr, "c4n4ry") {
		t.Errorf("a Secret value in the plan:\n%s%s", out, stderr)
	}

	applier := "ci-apply-" + ns
	akc, _ := asGeneratedRole(t, ns, dir, applier, "--secret", "old-token")
	apply := []string{"--kubeconfig", akc, "-n", ns, "--path", dir}
	if code, out, stderr := run(append([]string{"sync"}, apply...)...); code != 0 {
		t.Fatalf("sync as the apply identity: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr := run(append([]string{"prune", "--plan", plan}, apply...)...); code != 0 {
		t.Fatalf("prune as the apply identity: exit %d\n%s%s", code, out, stderr)
	}
	if _, err := cs.CoreV1().Secrets(ns).Get(t.Context(), "old-token", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("old-token after the prune: %v, want gone", err)
	}
	if code, out, stderr := run(append([]string{"diff"}, target...)...); code != 0 {
		t.Errorf("diff as the plan identity after the prune: exit %d\n%s%s", code, out, stderr)
	}
}
