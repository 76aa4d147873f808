package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The plan's capacity check needs the nodes and what each pod requests. No
// RBAC rule grants a pod's requests without the rest of it (containers,
// environment, volumes), so the identity that reads pods is not the merge
// request pipelines': a publisher, run by the cluster's operators, lists
// them and writes a snapshot of requests alone into one ConfigMap
// (capacity.Take), which the plan identity may read and nothing else.

// CapacityReader is the Role (and binding, when subjects are given) that
// lets the plan identity read the capacity snapshot ConfigMap
// namespace/configMap, by its name alone.
func CapacityReader(role, namespace, configMap string, subjects []rbacv1.Subject) (*rbacv1.Role, *rbacv1.RoleBinding) {
	meta := metav1.ObjectMeta{Name: role, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "modelsync"}}
	r := &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: meta,
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}, ResourceNames: []string{configMap}}},
	}
	if len(subjects) == 0 {
		return r, nil
	}
	return r, &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: meta,
		Subjects:   subjects,
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role},
	}
}

// CapacityPublisher is what `modelsync capacity publish` needs: list nodes
// and pods cluster-wide (a ClusterRole), and write the snapshot ConfigMap
// namespace/configMap (a Role: create, and get and patch by its name).
// Bindings are made when subjects are given.
func CapacityPublisher(name, namespace, configMap string, subjects []rbacv1.Subject) []any {
	meta := metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/managed-by": "modelsync"}}
	cr := &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: meta,
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes", "pods"}, Verbs: []string{"list"}}},
	}
	nsMeta := meta
	nsMeta.Namespace = namespace
	r := &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: nsMeta,
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create"}},
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "patch"}, ResourceNames: []string{configMap}},
		},
	}
	out := []any{cr, r}
	if len(subjects) == 0 {
		return out
	}
	return append(out,
		&rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
			ObjectMeta: meta, Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		},
		&rbacv1.RoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
			ObjectMeta: nsMeta, Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		})
}
