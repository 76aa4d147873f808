package main

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
)

// The fence says when it is off: a sync of a namespace that no binding of
// the fence policy guards warns, and with --require-fence writes nothing;
// where `modelsync rbac`'s policy and binding are in force, it says
// nothing and --require-fence passes. The check takes no right sync lacks.
func TestSyncSaysWhenTheFenceIsOff(t *testing.T) {
	tree := kubetest.RepoTree(t)
	admin := kubernetes.NewForConfigOrDie(kubetest.Config(t))

	unguarded := kubetest.Namespace(t)
	dir := kubetest.WriteTree(t, tree)
	code, out, stderr := run("sync", "--kubeconfig", kubetest.KubeconfigFile(t), "-n", unguarded, "--path", dir)
	if code != 0 || !strings.Contains(stderr, "warning: the fence is off for namespace "+unguarded) {
		t.Errorf("sync of an unguarded namespace: exit %d, want a warning that the fence is off\n%s%s", code, out, stderr)
	}
	required := kubetest.Namespace(t)
	code, out, stderr = run("sync", "--kubeconfig", kubetest.KubeconfigFile(t), "-n", required, "--path", dir, "--require-fence")
	if code < 2 || !strings.Contains(stderr, "the fence is off, nothing was written (--require-fence)") {
		t.Errorf("sync --require-fence of an unguarded namespace: exit %d\n%s%s", code, out, stderr)
	}
	if _, err := admin.CoreV1().Secrets(required).Get(t.Context(), inventory.DefaultName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("sync --require-fence wrote the inventory: %v", err)
	}

	guarded := kubetest.Namespace(t)
	gdir := kubetest.WriteTree(t, tree)
	kc, _ := asGeneratedRole(t, guarded, gdir, "ci-apply-"+guarded)
	if err := wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		code, out, stderr = run("sync", "--kubeconfig", kc, "-n", guarded, "--path", gdir, "--require-fence")
		return code == 0, nil
	}); err != nil {
		t.Fatalf("sync --require-fence where the fence is in force: exit %d\n%s%s", code, out, stderr)
	}
	if strings.Contains(stderr, "fence is off") {
		t.Errorf("sync where the fence is in force warned:\n%s", stderr)
	}
}
