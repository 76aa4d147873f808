package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/internal/testing/kubetest"
)

// Two identities: the merge request pipeline's plan identity, bound to what
// `modelsync rbac --identity plan` prints, diffs (every dry run passes) and
// the API server refuses it every real write: each object of the tree
// applied for real, deletes, and a whole sync, which leaves the namespace as
// it was.
func TestPlanIdentityDryRunsAndCannotWrite(t *testing.T) {
	ns := kubetest.Namespace(t)
	dir := kubetest.WriteTree(t, kubetest.RepoTree(t))
	admin := []string{"--kubeconfig", kubetest.KubeconfigFile(t), "-n", ns, "--path", dir}
	if code, _, stderr := run(append([]string{"sync"}, admin...)...); code != 0 {
		t.Fatalf("sync as admin: %s", stderr)
	}
	// The gateway's API key, named by the tree's BackendSecurityPolicy but
	// not in the tree: no merge request's job may read it.
	cs := kubernetes.NewForConfigOrDie(kubetest.Config(t))
	key := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "openai-apikey"}, StringData: map[string]string{"apiKey": "c4n4ry-production-key"}}
	if _, err := cs.CoreV1().Secrets(ns).Create(t.Context(), key, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	user := "modelsync-plan-" + ns
	code, out, stderr := run("rbac", "--identity", "plan", "--path", dir, "-n", ns, "--user", user)
	if code != 0 {
		t.Fatalf("rbac --identity plan: exit %d %s", code, stderr)
	}
	if n := strings.Count(out, "\n---\n"); n != 3 {
		t.Fatalf("want Role, RoleBinding, ValidatingAdmissionPolicy and its binding; got %d documents:\n%s", n+1, out)
	}
	kubetest.Kubectl(t, "", out, "apply", "-f", "-")
	kc, cfg := kubetest.UserKubeconfig(t, user)
	self, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}

	// The merge request changes a model and removes another.
	model := filepath.Join(dir, "models", "minimax.yaml")
	data, _ := os.ReadFile(model)
	if err := os.WriteFile(model, []byte(strings.Replace(string(data), "maxNumSeqs: 128", "maxNumSeqs: 64", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "models", "qwen3-embedding-8b.yaml")); err != nil {
		t.Fatal(err)
	}
	objs := renderTree(t, dir, ns)

	// The policy and binding take effect a moment after they are created:
	// wait until the plan identity's real apply of the first object is refused.
	probe := objs[0]
	var refusal error
	if err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, refusal = self.Apply(ctx, probe, cluster.ApplyOptions{FieldManager: "modelsync"})
		return refusal != nil && strings.Contains(refusal.Error(), "may only dry-run"), nil
	}); err != nil {
		t.Fatalf("the policy never refused the plan identity's write: %v", refusal)
	}

	before := resourceVersions(t, ns)
	for _, u := range objs {
		if _, err := self.Apply(t.Context(), u, cluster.ApplyOptions{FieldManager: "modelsync", DryRun: true}); err != nil {
			t.Errorf("dry-run apply of %s %s as the plan identity: %v", u.GetKind(), u.GetName(), err)
		}
		_, err := self.Apply(t.Context(), u, cluster.ApplyOptions{FieldManager: "modelsync"})
		if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "may only dry-run") {
			t.Errorf("real apply of %s %s as the plan identity: %v, want the policy's refusal", u.GetKind(), u.GetName(), err)
		}
		res, err := self.Resource(u.GroupVersionKind(), ns)
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Delete(t.Context(), u.GetName(), metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("delete of %s %s as the plan identity: %v, want forbidden", u.GetKind(), u.GetName(), err)
		}
	}

	if _, err := self.Core.CoreV1().Secrets(ns).Get(t.Context(), "openai-apikey", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the plan identity reads the API key Secret: %v, want forbidden", err)
	}
	if _, err := self.Core.CoreV1().Secrets(ns).List(t.Context(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the plan identity lists Secrets: %v, want forbidden", err)
	}
	if _, err := self.Core.CoreV1().Secrets(ns).Get(t.Context(), "modelsync", metav1.GetOptions{}); err != nil {
		t.Errorf("the plan identity cannot read the inventory: %v", err)
	}

	target := []string{"--kubeconfig", kc, "-n", ns, "--path", dir}
	if code, out, stderr := run(append([]string{"diff"}, target...)...); code != 1 || !strings.Contains(out, "update") || !strings.Contains(out, "prune") {
		t.Errorf("diff as the plan identity: exit %d, want 1 with the update and the prunes\n%s%s", code, out, stderr)
	}
	if code, _, stderr := run(append([]string{"sync"}, target...)...); code != 2 {
		t.Errorf("sync as the plan identity: exit %d, want 2\n%s", code, stderr)
	}
	if d := diffMaps(before, resourceVersions(t, ns)); d != "" {
		t.Errorf("the plan identity changed the namespace:\n%s", d)
	}
}

// renderTree is the tree's objects as modelsync renders them.
func renderTree(t *testing.T, dir, ns string) []*unstructured.Unstructured {
	t.Helper()
	code, out, stderr := run("render", "--path", dir, "-n", ns, "-o", "json")
	if code != 0 {
		t.Fatalf("render: %s", stderr)
	}
	var list struct{ Items []map[string]any }
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	objs := make([]*unstructured.Unstructured, len(list.Items))
	for i, item := range list.Items {
		objs[i] = &unstructured.Unstructured{Object: item}
	}
	return objs
}

// resourceVersions maps every object kubectl lists in the namespace to its
// resourceVersion.
func resourceVersions(t *testing.T, ns string) map[string]string {
	t.Helper()
	kinds := strings.Fields(kubetest.Kubectl(t, "", "", "api-resources", "--namespaced", "--verbs", "list", "-o", "name"))
	out := kubetest.Kubectl(t, ns, "", "get", strings.Join(kinds, ","), "-o", "yaml")
	var list struct{ Items []unstructured.Unstructured }
	if err := yaml.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, u := range list.Items {
		if u.GetKind() == "Event" {
			continue
		}
		m[u.GetKind()+"/"+u.GetName()] = u.GetResourceVersion()
	}
	return m
}

func diffMaps(a, b map[string]string) string {
	var s strings.Builder
	for k, v := range a {
		if b[k] != v {
			s.WriteString("  " + k + ": " + v + " → " + b[k] + "\n")
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			s.WriteString("  " + k + ": new, " + v + "\n")
		}
	}
	return s.String()
}
