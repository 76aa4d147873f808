package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"modelsync.dev/modelsync/internal/testing/kubetest"
)

// An identity bound to exactly the Role that
// `modelsync rbac` prints runs diff, sync, prune (with --delete-pvcs) and a
// second sync, against the real API server with RBAC on.
func TestGeneratedRoleRunsEveryCommand(t *testing.T) {
	ns := kubetest.Namespace(t)
	dir := kubetest.WriteTree(t, kubetest.RepoTree(t))
	user := "ci-apply-" + ns
	kc, cfg := asGeneratedRole(t, ns, dir, user)
	self := kubernetes.NewForConfigOrDie(cfg)
	if _, err := self.CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{}); err == nil {
		t.Fatal("the identity can list ConfigMaps: it is not restricted to the Role")
	}
	// The apply identity reads no Secret but the inventory either.
	if _, err := self.CoreV1().Secrets(ns).List(t.Context(), metav1.ListOptions{}); err == nil {
		t.Error("the apply identity can list Secrets")
	}
	if _, err := self.CoreV1().Secrets(ns).Get(t.Context(), "openai-apikey", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the apply identity may read any Secret: %v, want forbidden", err)
	}

	target := []string{"--kubeconfig", kc, "-n", ns, "--path", dir}
	step := func(want int, args ...string) string {
		t.Helper()
		code, out, stderr := run(append(args, target...)...)
		if code != want {
			t.Fatalf("%s as the Role's identity: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, stderr)
		}
		return out
	}
	step(0, "sync")
	step(0, "diff")
	claim := createClaim(t, kubernetes.NewForConfigOrDie(kubetest.Config(t)), ns, "qwen3-embedding-8b-vllm-inference")
	if err := os.Remove(filepath.Join(dir, "models", "qwen3-embedding-8b.yaml")); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(t.TempDir(), "plan.json")
	step(1, "diff", "--plan-out", plan)
	if out := step(0, "prune", "--plan", plan, "--delete-pvcs"); !strings.Contains(out, "deleted    PersistentVolumeClaim "+claim) {
		t.Errorf("prune did not delete the approved claim:\n%s", out)
	}
	step(0, "sync")
	step(0, "diff")
	// status asks the pods of the StatefulSets, which no controller runs here.
	if code, out, stderr := run("status", "--kubeconfig", kc, "-n", ns); code != 1 || !strings.Contains(out, "waiting") {
		t.Errorf("status as the Role's identity: exit %d\n%s%s", code, out, stderr)
	}
}

// createClaim creates, as the StatefulSet controller would, the claim of
// pod 0 from the StatefulSet's first volumeClaimTemplate.
func createClaim(t *testing.T, cs kubernetes.Interface, ns, sts string) string {
	t.Helper()
	s, err := cs.AppsV1().StatefulSets(ns).Get(t.Context(), sts, metav1.GetOptions{})
	if err != nil || len(s.Spec.VolumeClaimTemplates) == 0 {
		t.Fatalf("StatefulSet %s: %v", sts, err)
	}
	name := s.Spec.VolumeClaimTemplates[0].Name + "-" + sts + "-0"
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
	}}
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(t.Context(), pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// asGeneratedRole binds user to the Role and RoleBinding that `modelsync
// rbac --user` prints for the tree at dir, as an admin would apply them, and
// returns the user's kubeconfig once the binding takes effect.
func asGeneratedRole(t *testing.T, ns, dir, user string, flags ...string) (string, *rest.Config) {
	t.Helper()
	code, out, stderr := run(append([]string{"rbac", "--path", dir, "-n", ns, "--user", user}, flags...)...)
	if code != 0 {
		t.Fatalf("rbac: exit %d %s", code, stderr)
	}
	admin := kubernetes.NewForConfigOrDie(kubetest.Config(t))
	docs := strings.Split(out, "\n---\n")
	if len(docs) != 4 {
		t.Fatalf("rbac printed %d documents, want a Role, a RoleBinding, the fence policy and its binding:\n%s", len(docs), out)
	}
	var policy admissionv1.ValidatingAdmissionPolicy
	var policyBinding admissionv1.ValidatingAdmissionPolicyBinding
	if err := yaml.UnmarshalStrict([]byte(docs[2]), &policy); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[3]), &policyBinding); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(t.Context(), &policy, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := admin.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(t.Context(), &policyBinding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(context.Background(), policyBinding.Name, metav1.DeleteOptions{})
	})
	var role rbacv1.Role
	var binding rbacv1.RoleBinding
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &role); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &binding); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().Roles(ns).Create(t.Context(), &role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(t.Context(), &binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kc, cfg := kubetest.UserKubeconfig(t, user)
	self := kubernetes.NewForConfigOrDie(cfg)
	if err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		r, err := self.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "update", Group: "coordination.k8s.io", Resource: "leases"}}}, metav1.CreateOptions{})
		return err == nil && r.Status.Allowed, nil
	}); err != nil {
		t.Fatalf("the binding never took effect: %v", err)
	}
	return kc, cfg
}
