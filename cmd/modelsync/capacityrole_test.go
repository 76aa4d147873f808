package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"modelsync.dev/modelsync/capacity"
	"modelsync.dev/modelsync/internal/testing/kubetest"
)

// TestPlanIdentityCapacity: the plan identity bound to exactly what
// `modelsync rbac --identity plan` prints cannot list nodes or pods, and its
// plan says once that capacity was not checked, and carries on. The
// publisher (bound to `rbac --capacity-publisher`) writes the capacity
// snapshot: pods' requests without their environment (a canary password in
// another namespace is not in it). With `rbac --capacity NS/NAME` the plan
// identity reads that one ConfigMap (diff --capacity-from), the warning is
// gone, and it still may read no pod anywhere.
func TestPlanIdentityCapacity(t *testing.T) {
	ns := kubetest.Namespace(t)
	other := kubetest.Namespace(t)
	admin := kubernetes.NewForConfigOrDie(kubetest.Config(t))
	canary := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "canary", Namespace: other}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "db", Image: "postgres", Env: []corev1.EnvVar{{Name: "DB_PASSWORD", Value: "hunter2"}},
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}},
	}}}}
	if _, err := admin.CoreV1().Pods(other).Create(t.Context(), canary, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := kubetest.WriteTree(t, kubetest.RepoTree(t))
	user := "modelsync-capacity-" + ns
	code, out, stderr := run("rbac", "--identity", "plan", "--path", dir, "-n", ns, "--user", user)
	if code != 0 {
		t.Fatalf("rbac: exit %d %s", code, stderr)
	}
	kubetest.Kubectl(t, "", out, "apply", "-f", "-")
	kc, cfg := kubetest.UserKubeconfig(t, user)
	snapshot := ns + "/modelsync-capacity"
	diff := func(flags ...string) (int, string) {
		code, out, stderr := run(append([]string{"diff", "--kubeconfig", kc, "-n", ns, "--path", dir}, flags...)...)
		return code, out + stderr
	}
	code, text := diff()
	if code != 1 || strings.Count(text, "capacity not checked") != 1 || !strings.Contains(text, "forbidden") {
		t.Fatalf("diff without capacity: exit %d, want 1 with one capacity warning\n%s", code, text)
	}
	if code, text = diff("--capacity-from", snapshot); code != 1 || !strings.Contains(text, "capacity not checked: read the capacity snapshot ConfigMap "+snapshot) {
		t.Fatalf("diff --capacity-from before anything is published or granted: exit %d\n%s", code, text)
	}

	// The publisher writes the snapshot.
	publisher := "modelsync-publisher-" + ns
	code, out, stderr = run("rbac", "--capacity-publisher", "--capacity", snapshot, "--user", publisher)
	if code != 0 || !strings.Contains(out, "kind: ClusterRole\n") || !strings.Contains(out, "kind: ClusterRoleBinding\n") {
		t.Fatalf("rbac --capacity-publisher: exit %d\n%s%s", code, out, stderr)
	}
	kubetest.Kubectl(t, "", out, "apply", "-f", "-")
	pkc, _ := kubetest.UserKubeconfig(t, publisher)
	if err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		code, out, stderr = run("capacity", "publish", "--kubeconfig", pkc, "-n", ns)
		return code == 0, nil
	}); err != nil {
		t.Fatalf("capacity publish as the publisher: exit %d\n%s%s", code, out, stderr)
	}
	cm, err := admin.CoreV1().ConfigMaps(ns).Get(t.Context(), "modelsync-capacity", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(cm.BinaryData[capacity.SnapshotKey]))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	if strings.Contains(string(raw), "hunter2") || strings.Contains(string(raw), "DB_PASSWORD") || strings.Contains(string(raw), "postgres") {
		t.Errorf("the snapshot holds the canary pod's spec:\n%s", raw)
	}
	if !strings.Contains(string(raw), `"name":"canary"`) || !strings.Contains(string(raw), `"cpu":"3"`) {
		t.Errorf("the snapshot lacks the canary pod's requests:\n%s", raw)
	}

	// The plan identity reads the snapshot, and no pod.
	code, out, stderr = run("rbac", "--identity", "plan", "--capacity", snapshot, "--path", dir, "-n", ns, "--user", user)
	if code != 0 || !strings.Contains(out, "resourceNames:\n  - modelsync-capacity\n") || strings.Contains(out, "ClusterRole") {
		t.Fatalf("rbac --capacity: exit %d\n%s%s", code, out, stderr)
	}
	kubetest.Kubectl(t, "", out, "apply", "-f", "-")
	if err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		code, text = diff("--capacity-from", snapshot)
		return code == 1 && !strings.Contains(text, "capacity not checked"), nil
	}); err != nil {
		t.Fatalf("diff --capacity-from with the Role still warns: exit %d\n%s", code, text)
	}
	self := kubernetes.NewForConfigOrDie(cfg)
	for _, where := range []string{"", ns, other} {
		r, err := self.AuthorizationV1().SelfSubjectAccessReviews().Create(t.Context(), &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: where, Verb: "list", Resource: "pods"}}}, metav1.CreateOptions{})
		if err != nil || r.Status.Allowed {
			t.Errorf("the plan identity may list pods in %q: %+v, %v", where, r.Status, err)
		}
	}
}
