package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"modelsync.dev/modelsync/internal/controlplane"
	"modelsync.dev/modelsync/internal/testing/kubetest"
)

// anyKindTree is a multi-node model as raw YAML: a LeaderWorkerSet, the
// InferencePool v1 selecting its leaders with the endpoint picker's Service,
// ServiceAccount, Role, RoleBinding and ConfigMap, and a route sending to the
// pool. Every object names the namespace, as the team's files do: the
// files under testdata/anykind, with NS replaced by ns.
func anyKindTree(t *testing.T, ns string) fstest.MapFS {
	t.Helper()
	files := fstest.MapFS{}
	root := filepath.Join("testdata", "anykind")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = &fstest.MapFile{Data: []byte(strings.ReplaceAll(string(data), "NS", ns))}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestAnyKindValidatedPlannedSyncedPruned: kinds modelsync has no table
// entry for are validated offline with --crds, planned, synced in the order
// their references give, and pruned in reverse.
func TestAnyKindValidatedPlannedSyncedPruned(t *testing.T) {
	ns := kubetest.Namespace(t)
	dir := kubetest.WriteTree(t, anyKindTree(t, ns))
	root, err := controlplane.RepoRoot(must(os.Getwd()))
	if err != nil {
		t.Fatal(err)
	}
	var crds []string
	for _, d := range controlplane.CRDDirs(root) {
		crds = append(crds, "--crds", d)
	}

	// Offline, no -n: the tree names its namespace. Without --crds the
	// LeaderWorkerSet is a warning saying how to declare it.
	code, out, _ := run("validate", "--path", dir)
	if code != 0 || !strings.Contains(out, "kind LeaderWorkerSet in leaderworkerset.x-k8s.io/v1 is not known offline") || !strings.Contains(out, "--crds") {
		t.Errorf("validate without --crds: exit %d\n%s", code, out)
	}
	if code, out, _ := run(append([]string{"validate", "--path", dir}, crds...)...); code != 0 || !strings.Contains(out, "no problems found") {
		t.Errorf("validate --crds: exit %d\n%s", code, out)
	}

	// Asked, the cluster says which kinds it serves: a misspelt kind is an error.
	if code, out, _ := run("validate", "--path", dir, "--kubeconfig", kubetest.KubeconfigFile(t)); code != 0 || !strings.Contains(out, "no problems found") {
		t.Errorf("validate against the cluster: exit %d\n%s", code, out)
	}
	typo := kubetest.WriteTree(t, fstest.MapFS{"models-config/lws.yaml": &fstest.MapFile{Data: []byte(strings.Replace(string(anyKindTree(t, ns)["models-config/glm/lws.yaml"].Data), "kind: LeaderWorkerSet", "kind: LeaderWorkerSett", 1))}})
	if code, out, _ := run("validate", "--path", typo, "--kubeconfig", kubetest.KubeconfigFile(t)); code != 1 || !strings.Contains(out, "the cluster does not serve kind LeaderWorkerSett") {
		t.Errorf("validate of a misspelt kind against the cluster: exit %d\n%s", code, out)
	}

	// Everything runs as the identity bound to exactly the Role that
	// `modelsync rbac` prints for this tree: it may write the picker's Role
	// (bind and escalate on that Role alone), the CRD kinds and the rest.
	kc, _ := asGeneratedRole(t, ns, dir, "ci-apply-"+ns)
	target := []string{"--kubeconfig", kc, "--path", dir}
	if code, out, stderr := run(append([]string{"diff"}, target...)...); code != 1 || !strings.Contains(out, "9 to create") {
		t.Fatalf("diff: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr := run(append([]string{"sync"}, target...)...)
	if code != 0 {
		t.Fatalf("sync: exit %d\n%s%s", code, out, stderr)
	}
	at := func(kind string) int { return strings.Index(out, " "+kind+" ") }
	for _, pair := range [][2]string{{"Service", "InferencePool"}, {"InferencePool", "AIGatewayRoute"}, {"Role", "RoleBinding"}} {
		if at(pair[0]) < 0 || at(pair[0]) > at(pair[1]) {
			t.Errorf("sync did not apply %s before %s:\n%s", pair[0], pair[1], out)
		}
	}
	if code, out, stderr := run(append([]string{"diff"}, target...)...); code != 0 {
		t.Fatalf("diff after sync: exit %d\n%s%s", code, out, stderr)
	}

	// The multi-node model leaves: the route (its only rule gone), the pool,
	// the picker and the LeaderWorkerSet are pruned, the route first.
	if err := os.RemoveAll(filepath.Join(dir, "glm")); err != nil {
		t.Fatal(err)
	}
	route := filepath.Join(dir, "gatewayroute", "nrp.yaml")
	data, _ := os.ReadFile(route)
	if err := os.WriteFile(route, []byte(strings.Split(string(data), "  rules:")[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(t.TempDir(), "plan.json")
	if code, out, stderr := run(append([]string{"diff", "--plan-out", plan}, target...)...); code != 1 || !strings.Contains(out, "8 to prune") {
		t.Fatalf("diff of the removal: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = run(append([]string{"prune", "--plan", plan, "--allow-mass-prune"}, target...)...) // 8 of 9 is a mass prune
	if code != 0 || !strings.Contains(out, "deleted    LeaderWorkerSet glm-5") || !strings.Contains(out, "deleted    InferencePool glm-5") {
		t.Fatalf("prune: exit %d\n%s%s", code, out, stderr)
	}
	if i, j := strings.Index(out, "AIGatewayRoute"), strings.Index(out, "InferencePool"); i > j {
		t.Errorf("prune removed the pool before the rule sending to it:\n%s", out)
	}
	if code, out, stderr := run(append([]string{"diff"}, target...)...); code != 0 {
		t.Errorf("diff after prune: exit %d\n%s%s", code, out, stderr)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestAPIGroupMoveNeverDangles: an InferencePool moved from the
// experimental group to inference.networking.k8s.io/v1, with the HTTPRoute
// that sends to it moving along, is made side by side: sync creates the new
// pool before it switches the route, the approved prune deletes the old one
// once nothing points at it. A watch over the pools and the route, replayed
// in etcd's order, sees the route point at a missing pool at no moment.
func TestAPIGroupMoveNeverDangles(t *testing.T) {
	ns := kubetest.Namespace(t)
	files := anyKindTree(t, ns)
	delete(files, "models-config/glm/lws.yaml")
	delete(files, "models-config/gatewayroute/nrp.yaml")
	route := func(group string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: glm-5
  namespace: ` + ns + `
spec:
  parentRefs:
  - name: envoy-ai-gateway-nrp
  rules:
  - backendRefs:
    - group: ` + group + `
      kind: InferencePool
      name: glm-5
`)}
	}
	files["models-config/glm/route.yaml"] = route("inference.networking.x-k8s.io")
	v1 := files["models-config/glm/pool.yaml"].Data
	files["models-config/glm/pool.yaml"] = &fstest.MapFile{Data: []byte(`apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferencePool
metadata:
  name: glm-5
  namespace: ` + ns + `
spec:
  selector:
    app: glm-5
  targetPortNumber: 5000
  extensionRef:
    name: glm-5-epp
`)}
	dir := kubetest.WriteTree(t, files)
	target := []string{"--kubeconfig", kubetest.KubeconfigFile(t), "--path", dir}
	if code, out, stderr := run(append([]string{"sync"}, target...)...); code != 0 {
		t.Fatalf("sync: exit %d\n%s%s", code, out, stderr)
	}
	w := kubetest.WatchReferences(t, ns)
	if err := os.WriteFile(filepath.Join(dir, "glm", "pool.yaml"), v1, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "glm", "route.yaml"), route("inference.networking.k8s.io").Data, 0o644); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(t.TempDir(), "plan.json")
	code, out, stderr := run(append([]string{"diff", "--plan-out", plan}, target...)...)
	if code != 1 || !strings.Contains(out, "1 to create, 1 to update, 1 to prune") ||
		!strings.Contains(out, "moves from API group inference.networking.x-k8s.io to inference.networking.k8s.io") ||
		!strings.Contains(out, "moved to API group inference.networking.k8s.io") {
		t.Fatalf("diff: exit %d\n%s%s", code, out, stderr)
	}
	pools := func(group string) string {
		return kubetest.Kubectl(t, ns, "", "get", "inferencepools."+group, "-o", "name")
	}
	if code, out, stderr := run(append([]string{"sync"}, target...)...); code != 0 || pools("inference.networking.k8s.io") == "" || pools("inference.networking.x-k8s.io") == "" {
		t.Fatalf("sync: want both pools side by side: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = run(append([]string{"prune", "--plan", plan}, target...)...)
	if code != 0 || !strings.Contains(out, "InferencePool glm-5") {
		t.Fatalf("prune: exit %d\n%s%s", code, out, stderr)
	}
	if pools("inference.networking.k8s.io") == "" || pools("inference.networking.x-k8s.io") != "" {
		t.Errorf("after the prune: v1 pools %q, experimental pools %q", pools("inference.networking.k8s.io"), pools("inference.networking.x-k8s.io"))
	}
	if code, out, stderr := run(append([]string{"diff"}, target...)...); code != 0 {
		t.Errorf("diff after the move: exit %d\n%s%s", code, out, stderr)
	}
	if dangling := w.Stop(); len(dangling) > 0 {
		t.Errorf("the route pointed at a missing pool:\n%s", strings.Join(dangling, "\n"))
	}
}

// TestExamplesApplyStrictly: every serving shape of models-config/ (a
// LeaderWorkerSet across pods, an InferencePool with its endpoint picker, an
// offloaded model, the catalogue) applies to the real API server with the
// upstream CRDs and strict field validation, and plans clean afterwards.
func TestExamplesApplyStrictly(t *testing.T) {
	ns := kubetest.Namespace(t)
	target := []string{"--kubeconfig", kubetest.KubeconfigFile(t), "-n", ns, "--path", "../../models-config"}
	code, out, stderr := run(append([]string{"sync"}, target...)...)
	for _, want := range []string{"create     LeaderWorkerSet glm-5-vllm-inference", "create     InferencePool qwen3-32b-vllm-inference",
		"create     Deployment qwen3-32b-vllm-inference-epp", "create     StatefulSet qwen3-8b-offload-vllm-inference", "create     ConfigMap chatbox-models"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("sync of models-config: exit %d, want %q\n%s%s", code, want, out, stderr)
		}
	}
	if code, out, stderr := run(append([]string{"diff"}, target...)...); code != 0 {
		t.Errorf("diff after syncing models-config: exit %d\n%s%s", code, out, stderr)
	}
}
