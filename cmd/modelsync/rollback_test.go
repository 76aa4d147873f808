package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
)

// Staleness is judged against every sync that began, and a sync never goes
// back in history unasked:
//   - A removes the embedding model; its prune awaits approval. B reverts A
//     and its sync begins, writes, and is cut off (the API server refuses
//     one of its writes). A's approved prune is refused: a sync of B began;
//     so is a retried sync job of A, the last sync that completed.
//   - B synced to the end; a retried sync job of A (GitLab's Retry, or an
//     environment's Rollback) is refused as a rollback and writes nothing.
//   - With --allow-rollback it syncs A, and A's approval, though it matches
//     the revision again, stays refused: it predates the rollback.
func TestRollbackAndCutOffSyncKeepApprovalsStale(t *testing.T) {
	ns := kubetest.Namespace(t)
	kc := kubetest.KubeconfigFile(t)
	dir := kubetest.WriteTree(t, kubetest.RepoTree(t))
	commit := kubetest.GitRepo(t, filepath.Dir(dir))
	base := commit("base")
	cli := func(args ...string) (int, string) {
		code, out, stderr := run(append(args, "--kubeconfig", kc, "-n", ns, "--path", dir)...)
		return code, out + stderr
	}
	if code, out := cli("sync"); code != 0 {
		t.Fatalf("sync of the base: exit %d\n%s", code, out)
	}
	embedding := filepath.Join(dir, "models", "qwen3-embedding-8b.yaml")
	saved, err := os.ReadFile(embedding)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(embedding); err != nil {
		t.Fatal(err)
	}
	a := commit("A: remove the embedding model")
	planA := filepath.Join(t.TempDir(), "plan.json")
	if code, out := cli("diff", "--plan-out", planA); code != 1 || !strings.Contains(out, "to prune") {
		t.Fatalf("plan of A: exit %d\n%s", code, out)
	}
	if code, out := cli("sync"); code != 0 {
		t.Fatalf("sync of A: exit %d\n%s", code, out)
	}

	// B reverts A, plus a ConfigMap the API server refuses for real (not in
	// a dry run): B's sync begins, writes, and stops half-way.
	if err := os.WriteFile(embedding, saved, 0o644); err != nil {
		t.Fatal(err)
	}
	poison := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: poison\ndata:\n  a: b\n"
	if err := os.WriteFile(filepath.Join(dir, "poison.yaml"), []byte(poison), 0o644); err != nil {
		t.Fatal(err)
	}
	b := commit("B: revert A")
	refuseRealWrites(t, ns, "poison")
	if code, out := cli("sync"); code == 0 {
		t.Fatalf("sync of B with a refused write succeeded:\n%s", out)
	}
	admin := kubernetes.NewForConfigOrDie(kubetest.Config(t))
	parent, err := admin.CoreV1().Secrets(ns).Get(t.Context(), inventory.DefaultName, metav1.GetOptions{})
	if err != nil || parent.Annotations[inventory.AnnotationRevision] != a || parent.Annotations[inventory.AnnotationBegan] != b {
		t.Fatalf("after the cut-off sync: revision %s, began %s (want %s, %s): %v", parent.Annotations[inventory.AnnotationRevision], parent.Annotations[inventory.AnnotationBegan], a, b, err)
	}
	if code, out := cli("prune", "--plan", planA); code < 2 || !strings.Contains(out, "a sync of revision "+b+" has since begun") {
		t.Errorf("prune of A's plan after B's sync began: exit %d\n%s", code, out)
	}
	if _, err := admin.AppsV1().StatefulSets(ns).Get(t.Context(), "qwen3-embedding-8b-vllm-inference", metav1.GetOptions{}); err != nil {
		t.Errorf("the model B wants back was deleted: %v", err)
	}
	// A's sync job retried now, though A is the last completed sync: B began.
	if code, out := cli("sync", "--revision", a); code < 2 || !strings.Contains(out, "is older than "+b[:12]) {
		t.Errorf("retried sync of A after B's sync began: exit %d, want a refused rollback\n%s", code, out)
	}

	// B syncs to the end; then A's sync job is retried.
	if err := os.Remove(filepath.Join(dir, "poison.yaml")); err != nil {
		t.Fatal(err)
	}
	c := commit("C: without the poison")
	if code, out := cli("sync"); code != 0 {
		t.Fatalf("sync of C: exit %d\n%s", code, out)
	}
	if code, out := cli("sync", "--revision", a); code < 2 || !strings.Contains(out, "is older than "+c[:12]) || !strings.Contains(out, "nothing was written") {
		t.Errorf("retried sync of A: exit %d, want a refused rollback\n%s", code, out)
	}
	if code, out := cli("sync", "--revision", a, "--allow-rollback"); code != 0 {
		t.Fatalf("sync --allow-rollback of A: exit %d\n%s", code, out)
	}
	if code, out := cli("prune", "--plan", planA); code < 2 || !strings.Contains(out, "rolled back to an older revision") {
		t.Errorf("prune of A's plan after the rollback to A: exit %d\n%s", code, out)
	}
	if _, err := admin.AppsV1().StatefulSets(ns).Get(t.Context(), "qwen3-embedding-8b-vllm-inference", metav1.GetOptions{}); err != nil {
		t.Errorf("the stale approval deleted the model: %v", err)
	}
	_ = base
}

// refuseRealWrites makes the API server refuse every write of the
// ConfigMap name in ns that is not a dry run, as an admission policy of the
// cluster's might: a sync's plan passes, its write fails.
func refuseRealWrites(t *testing.T, ns, name string) {
	t.Helper()
	admin := kubernetes.NewForConfigOrDie(kubetest.Config(t))
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "refuse-" + ns},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
				},
			}}},
			Validations: []admissionv1.Validation{{Expression: `request.dryRun == true || object.metadata.name != "` + name + `"`, Message: "refused by the cluster's policy"}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "refuse-" + ns},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy.Name, ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}}},
	}
	if _, err := admin.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(t.Context(), policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(t.Context(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Wait until the policy refuses a real write.
	for i := 0; ; i++ {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
		_, err := admin.CoreV1().ConfigMaps(ns).Create(t.Context(), cm, metav1.CreateOptions{})
		if err != nil && strings.Contains(err.Error(), "refused by the cluster's policy") {
			return
		}
		if err == nil {
			_ = admin.CoreV1().ConfigMaps(ns).Delete(t.Context(), name, metav1.DeleteOptions{})
		}
		if i > 100 {
			t.Fatalf("the refusing policy never took effect: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
