package live_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/internal/testing/kubetest"
)

// TestImportTakesOverTheRunbooksDeployment is a team's first day: the
// runbook's MiniMax and embedding StatefulSets, Services and gateway objects,
// applied by hand with client-side `kubectl apply`, are imported from the
// live namespace; `sync --adopt` of the imported tree (no -n: the tree names
// its namespace) changes no pod template and no claim, and diff is clean.
func TestImportTakesOverTheRunbooksDeployment(t *testing.T) {
	c, err := cluster.New(kubetest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	const ns = "nrp-llm"
	useNamespace(t, c.Core, ns)
	runbook := filepath.Join(repoRoot(t), "testdata", "runbook")
	kubetest.Kubectl(t, ns, "", "apply", "-f", runbook)
	before := settled(t, c, ns)

	bin := buildModelsync(t)
	kubeconfig := kubetest.KubeconfigFile(t)
	live := filepath.Join(t.TempDir(), "models-config")
	out := run(t, 0, bin, "import", "--kubeconfig", kubeconfig, "-n", ns, "--out", live)
	models := []string{"minimax", "qwen3-embedding-8b", "qwen3-nairr"}
	if !strings.Contains(out, "3 Model(s) [minimax qwen3-embedding-8b qwen3-nairr]") {
		t.Fatalf("import did not write the two served Models and the external one:\n%s", out)
	}
	for _, m := range models {
		data, err := os.ReadFile(filepath.Join(live, "models", m+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("models/%s.yaml: %d lines", m, strings.Count(string(data), "\n"))
	}
	// The same tree comes out of the files the team applied, offline.
	offline := filepath.Join(t.TempDir(), "models-config")
	run(t, 0, bin, "import", "--from", runbook, "--out", offline)
	for _, m := range models {
		a, _ := os.ReadFile(filepath.Join(live, "models", m+".yaml"))
		b, _ := os.ReadFile(filepath.Join(offline, "models", m+".yaml"))
		if d := cmp.Diff(string(a), string(b)); d != "" {
			t.Errorf("Model %s imported from the cluster and from the files differ (-live +files):\n%s", m, d)
		}
	}

	run(t, 0, bin, "validate", "--path", live)
	run(t, 0, bin, "sync", "--adopt", "--kubeconfig", kubeconfig, "--path", live)
	if d := cmp.Diff(before, settled(t, c, ns)); d != "" {
		t.Errorf("sync --adopt changed a pod template or a claim (-before +after):\n%s", d)
	}
	if out := run(t, 0, bin, "diff", "--kubeconfig", kubeconfig, "--path", live); !strings.Contains(out, "0 to create, 0 to update, 0 to prune") {
		t.Errorf("diff after adopting:\n%s", out)
	}
}

// settled is workloadState once the StatefulSet controller has observed
// every StatefulSet and made its claims, so that a change made later shows.
func settled(t *testing.T, c *cluster.Clients, ns string) map[string]string {
	t.Helper()
	var state map[string]string
	if err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		var done bool
		state, done = workloadState(t, c, ns)
		return done, nil
	}); err != nil {
		t.Fatalf("the StatefulSets never settled: %v (%v)", err, state)
	}
	return state
}

// workloadState is what a rollout or a new claim would change: each
// StatefulSet's generation and template revision, and the claims' UIDs; and
// whether the controller has caught up with every StatefulSet.
func workloadState(t *testing.T, c *cluster.Clients, ns string) (map[string]string, bool) {
	t.Helper()
	state := map[string]string{}
	settled := true
	stss, err := c.Core.AppsV1().StatefulSets(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stss.Items {
		state["sts/"+s.Name] = fmt.Sprintf("generation %d, revision %s", s.Generation, s.Status.UpdateRevision)
		settled = settled && s.Status.ObservedGeneration == s.Generation && s.Status.UpdateRevision != ""
	}
	claims, err := c.Core.CoreV1().PersistentVolumeClaims(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range claims.Items {
		state["pvc/"+p.Name] = string(p.UID)
	}
	return state, settled && len(claims.Items) == len(stss.Items)
}

// run runs the CLI and wants exit code want.
func run(t *testing.T, want int, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != want {
		t.Fatalf("modelsync %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
	}
	return string(out)
}
