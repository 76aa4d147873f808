package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"modelsync.dev/modelsync/internal/kubetest"
)

// TestPlanIdentityCapacity: the plan identity bound to exactly what
// `modelsync rbac --identity plan` prints cannot list nodes, and its plan
// says once that capacity was not checked, and carries on; with --capacity
// it may, and the warning is gone.
func TestPlanIdentityCapacity(t *testing.T) {
	ns := kubetest.Namespace(t)
	dir := kubetest.WriteTree(t, kubetest.RepoTree(t))
	user := "modelsync-capacity-" + ns
	code, out, stderr := run("rbac", "--identity", "plan", "--path", dir, "-n", ns, "--user", user)
	if code != 0 {
		t.Fatalf("rbac: exit %d %s", code, stderr)
	}
	kubetest.Kubectl(t, "", out, "apply", "-f", "-")
	kc, _ := kubetest.UserKubeconfig(t, user)
	diff := func() (int, string) {
		code, out, stderr := run("diff", "--kubeconfig", kc, "-n", ns, "--path", dir)
		return code, out + stderr
	}
	code, text := diff()
	if code != 1 || strings.Count(text, "capacity not checked") != 1 || !strings.Contains(text, "forbidden") {
		t.Fatalf("diff without the ClusterRole: exit %d, want 1 with one capacity warning\n%s", code, text)
	}

	code, out, stderr = run("rbac", "--identity", "plan", "--capacity", "--path", dir, "-n", ns, "--user", user)
	if code != 0 || !strings.Contains(out, "kind: ClusterRole\n") || !strings.Contains(out, "kind: ClusterRoleBinding\n") {
		t.Fatalf("rbac --capacity: exit %d\n%s%s", code, out, stderr)
	}
	kubetest.Kubectl(t, "", out, "apply", "-f", "-")
	if err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		code, text = diff()
		return code == 1 && !strings.Contains(text, "capacity not checked"), nil
	}); err != nil {
		t.Fatalf("diff with the ClusterRole still warns: exit %d\n%s", code, text)
	}
}
