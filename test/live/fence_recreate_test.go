package live_test

import (
	"context"
	"os/exec"
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

// TestFenceAfterTheNamespaceIsRecreated: a team deletes its namespace and
// creates it again under the same name, with the fence policy's binding
// (cluster-scoped) still there. The new namespace's Lease starts again at
// transition 0, lower than the old one's; the policy must judge writes by
// the new Lease, not a cached old one, so the first sync passes.
func TestFenceAfterTheNamespaceIsRecreated(t *testing.T) {
	const ns = "fence-recreated"
	admin := kubernetes.NewForConfigOrDie(kubetest.Config(t))
	useNamespace(t, admin, ns)
	bin := buildModelsync(t)
	files := kubetest.GeneratedTree(2)
	dir := kubetest.WriteTree(t, files)
	kc := kubetest.KubeconfigFile(t)
	out := run(t, 0, bin, "rbac", "--path", dir, "-n", ns, "--user", "probe")
	kubetest.Kubectl(t, "", out, "apply", "-f", "-")
	args := []string{"sync", "--kubeconfig", kc, "-n", ns, "--path", dir}
	for range 3 { // three runs: the Lease is at transition 3
		run(t, 0, bin, args...)
	}
	_ = admin.CoreV1().Namespaces().Delete(t.Context(), ns, metav1.DeleteOptions{})
	if err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := admin.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The policy reads its parameter through the API server's cache: give
	// it a few seconds, no more.
	start := time.Now()
	var last string
	for time.Since(start) < 15*time.Second {
		o, err := exec.Command(bin, args...).CombinedOutput()
		if err == nil {
			t.Logf("the first sync of the recreated namespace passed after %s", time.Since(start).Round(time.Millisecond))
			return
		}
		last = strings.TrimSpace(string(o))
		time.Sleep(time.Second)
	}
	t.Errorf("syncs of the recreated namespace still refused after 15 s:\n%s", last)
}
