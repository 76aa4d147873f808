package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"modelsync.dev/modelsync/internal/testing/kubetest"
)

func TestMain(m *testing.M) {
	if args := os.Getenv(childArgsEnv); args != "" {
		os.Exit(runChild(args))
	}
	kubetest.Main(m)
}

// The approved-prune workflow as the CI jobs run it: sync, remove a model,
// diff --plan-out, prune --plan; the same plan again is stale.
func TestPruneWorkflow(t *testing.T) {
	ns := kubetest.Namespace(t)
	dir := kubetest.WriteTree(t, kubetest.RepoTree(t))
	target := []string{"--kubeconfig", kubetest.KubeconfigFile(t), "-n", ns, "--path", dir}
	if code, out, stderr := run(append([]string{"sync"}, target...)...); code != 0 || !strings.Contains(out, "28 applied") {
		t.Fatalf("sync: exit %d\n%s%s", code, out, stderr)
	}
	if err := os.Remove(filepath.Join(dir, "models", "qwen3-embedding-8b.yaml")); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(t.TempDir(), "plan.json")
	if code, out, stderr := run(append([]string{"diff", "--plan-out", plan}, target...)...); code != 1 || !strings.Contains(out, "4 to prune, 2 entries to remove") {
		t.Fatalf("diff: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr := run(append([]string{"prune", "--plan", plan}, target...)...)
	if code != 0 {
		t.Fatalf("prune: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{
		"prune-item AIGatewayRoute envoy-ai-gateway-nrp: removed rule qwen3-embedding-8b\n",
		"deleted    StatefulSet qwen3-embedding-8b-vllm-inference\n",
		"prune of namespace " + ns + ": 6 done, 0 failed, 0 not attempted\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("prune output lacks %q:\n%s", want, out)
		}
	}
	// The same plan again finds everything done.
	code, out, stderr = run(append([]string{"prune", "--plan", plan}, target...)...)
	if code != 0 || !strings.Contains(out, "done       StatefulSet qwen3-embedding-8b-vllm-inference: already done") || !strings.Contains(out, ": 6 done, 0 failed") {
		t.Errorf("the same plan again: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr := run(append([]string{"diff"}, target...)...); code != 0 {
		t.Errorf("diff after prune: exit %d\n%s%s", code, out, stderr)
	}
	if code, _, stderr := run(append([]string{"prune"}, target...)...); code != 2 || !strings.Contains(stderr, `"plan" not set`) {
		t.Errorf("prune without --plan: exit %d %s", code, stderr)
	}
}

// status before and after a sync: the inventory, the record and each
// member's health in apply order.
func TestStatus(t *testing.T) {
	ns := kubetest.Namespace(t)
	dir := kubetest.WriteTree(t, kubetest.RepoTree(t))
	conn := []string{"--kubeconfig", kubetest.KubeconfigFile(t), "-n", ns}
	if code, out, stderr := run(append([]string{"status"}, conn...)...); code != 0 || !strings.Contains(out, "nothing was synced to namespace "+ns+" yet") {
		t.Errorf("status before a sync: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr := run(append([]string{"sync", "--path", dir}, conn...)...); code != 0 {
		t.Fatalf("sync: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr := run(append([]string{"status"}, conn...)...)
	if code != 1 {
		t.Fatalf("status with unhealthy members: exit %d, want 1\n%s%s", code, out, stderr)
	}
	for _, want := range []string{"members:   28\n", "recorded:  28, ", "22 of 28 healthy\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	svc, sts := strings.Index(out, "Service "), strings.Index(out, "StatefulSet ")
	route := strings.Index(out, "AIGatewayRoute ")
	if svc < 0 || sts < svc || route < sts || !strings.Contains(out, "waiting for the controller to observe generation 1") {
		t.Errorf("status rows not in apply order, or StatefulSets not waiting:\n%s", out)
	}

	// The gateway controller refuses the route: a verdict, not a wait.
	dyn := dynamic.NewForConfigOrDie(kubetest.Config(t))
	routes := dyn.Resource(schema.GroupVersionResource{Group: "aigateway.envoyproxy.io", Version: "v1beta1", Resource: "aigatewayroutes"}).Namespace(ns)
	live, err := routes.Get(t.Context(), "envoy-ai-gateway-nrp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cond := map[string]any{"type": "Accepted", "status": "False", "reason": "BackendNotFound", "message": "no AIServiceBackend x", "lastTransitionTime": "2026-12-02T10:00:00Z"}
	if err := unstructured.SetNestedSlice(live.Object, []any{cond}, "status", "conditions"); err != nil {
		t.Fatal(err)
	}
	if _, err := routes.UpdateStatus(t.Context(), live, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(append([]string{"status"}, conn...)...)
	if code != 1 || !regexp.MustCompile(`AIGatewayRoute +envoy-ai-gateway-nrp +not accepted +BackendNotFound: no AIServiceBackend x`).MatchString(out) {
		t.Errorf("status of a refused route: exit %d\n%s", code, out)
	}
}

// A wrong --path that holds only the chat catalogue's ConfigMap empties
// nothing: every rule still serves until an approved prune, so the
// catalogue keeps listing every model, and the sync writes nothing.
func TestWrongPathKeepsTheCatalogue(t *testing.T) {
	ns := kubetest.Namespace(t)
	kc := kubetest.KubeconfigFile(t)
	files := kubetest.ModelsConfig(t)
	all := kubetest.WriteTree(t, files)
	if code, out, stderr := run("sync", "--kubeconfig", kc, "-n", ns, "--path", all); code != 0 {
		t.Fatalf("sync: exit %d\n%s%s", code, out, stderr)
	}
	cs := kubernetes.NewForConfigOrDie(kubetest.Config(t))
	before, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "chatbox-models", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	only := kubetest.WriteTree(t, fstest.MapFS{"models-config/chatbox.yaml": files["models-config/chatbox.yaml"]})
	code, out, stderr := run("sync", "--kubeconfig", kc, "-n", ns, "--path", only)
	if code != 0 || strings.Contains(out, "ConfigMap chatbox-models") {
		t.Errorf("sync of a path holding only the catalogue: exit %d\n%s%s", code, out, stderr)
	}
	after, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "chatbox-models", metav1.GetOptions{})
	if err != nil || after.Data["models.json"] != before.Data["models.json"] {
		t.Errorf("the catalogue was written: %v\n%s", err, after.Data["models.json"])
	}
}
