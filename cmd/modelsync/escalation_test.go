package main

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"modelsync.dev/modelsync/internal/testing/kubetest"
)

// The apply Role holds no escalation: acting as the identity bound to
// exactly the Role `modelsync rbac` prints for a tree that holds a Role (the
// endpoint picker's), it can write that Role as the tree has it, but not
// rewrite it to */*/*, create a wider Role, bind itself to cluster-admin, or read a
// Secret its Role does not name.
func TestApplyIdentityCannotEscalate(t *testing.T) {
	ns := kubetest.Namespace(t)
	dir := kubetest.WriteTree(t, anyKindTree(t, ns))
	_, cfg := asGeneratedRole(t, ns, dir, "ci-apply-"+ns)
	admin := kubernetes.NewForConfigOrDie(kubetest.Config(t))
	self := kubernetes.NewForConfigOrDie(cfg)
	ctx := t.Context()
	if _, err := admin.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "canary"}, StringData: map[string]string{"DB_PASSWORD": "hunter2"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	if _, err := admin.RbacV1().ClusterRoles().Get(ctx, "cluster-admin", metav1.GetOptions{}); err != nil {
		t.Fatalf("the API server's bootstrap ClusterRole cluster-admin: %v", err)
	}
	// The tree's Role, as the tree writes it: allowed.
	picker := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "glm-5-epp", Namespace: ns}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"inference.networking.k8s.io"}, Resources: []string{"inferencepools"}, Verbs: []string{"get", "watch", "list"}},
	}}
	created, err := self.RbacV1().Roles(ns).Create(ctx, picker, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the apply identity cannot write the tree's own Role: %v", err)
	}
	everything := []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}
	created.Rules = everything
	attempts := map[string]error{}
	_, attempts["rewrite the tree's Role to */*/*"] = self.RbacV1().Roles(ns).Update(ctx, created, metav1.UpdateOptions{})
	_, attempts["create a Role granting */*/*"] = self.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "wide"}, Rules: everything}, metav1.CreateOptions{})
	_, attempts["bind itself to the cluster-admin ClusterRole in the namespace"] = self.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "glm-5-epp"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "ci-apply-" + ns}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
	}, metav1.CreateOptions{})
	_, attempts["read a Secret its Role does not name"] = self.CoreV1().Secrets(ns).Get(ctx, "canary", metav1.GetOptions{})
	for what, err := range attempts {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: got %v, want Forbidden", what, err)
		}
	}
	if r, err := admin.RbacV1().Roles(ns).Get(ctx, "glm-5-epp", metav1.GetOptions{}); err != nil || strings.Contains(r.Rules[0].Verbs[0], "*") {
		t.Errorf("the tree's Role after the attempts: %+v, %v", r, err)
	}
}
