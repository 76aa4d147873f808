package live_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/testing/kubetest"
)

// TestImmutableChangeIsAnApprovedReplace: a StatefulSet whose volume claim
// template changed in the tree cannot be updated in place. The plan shows a
// replace (text, markdown, JSON) naming the field and the consequence, sync
// leaves the StatefulSet alone, and the approved prune deletes it, creates it
// again and waits for it; the claim is kept and mounted again.
func TestImmutableChangeIsAnApprovedReplace(t *testing.T) {
	c, err := cluster.New(kubetest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	const ns, sts = "nrp-llm", "qwen3-embedding-8b-vllm-inference"
	useNamespace(t, c.Core, ns)
	bin := buildModelsync(t)
	tree := filepath.Join(t.TempDir(), "models-config")
	run(t, 0, bin, "import", "--from", filepath.Join(repoRoot(t), "testdata", "runbook"), "--out", tree)
	target := []string{"--kubeconfig", kubetest.KubeconfigFile(t), "--path", tree}
	// No --wait: the runbook's MiniMax example asks for 4 A100s without the
	// large-gpu toleration that the runbook's own rule (and the cluster's
	// 4-GPU nodes) demand, so it never schedules. The embedding model does.
	run(t, 0, bin, append([]string{"sync"}, target...)...)
	var before map[string]string
	if err := wait.PollUntilContextTimeout(t.Context(), time.Second, 2*time.Minute, true, func(context.Context) (bool, error) {
		before = uids(t, c, ns, sts)
		return before["pvc"] != "", nil
	}); err != nil {
		t.Fatalf("the StatefulSet's claim never appeared: %v", err)
	}

	// The claim template grows: forbidden in place.
	model := filepath.Join(tree, "models", "qwen3-embedding-8b.yaml")
	data, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	grown := strings.Replace(string(data), "    overrides:\n", "    overrides:\n      storage: 30Gi\n", 1)
	if err := os.WriteFile(model, []byte(grown), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(t.TempDir(), "plan.json")
	text := run(t, 1, bin, append([]string{"diff", "--plan-out", plan}, target...)...)
	for _, want := range []string{"1 to replace (after approval)", "replace    StatefulSet " + sts, "cannot change in place (spec.volumeClaimTemplates)", "PersistentVolumeClaims are kept and mounted again", "+          storage: 30Gi"} {
		if !strings.Contains(text, want) {
			t.Errorf("text plan lacks %q:\n%s", want, text)
		}
	}
	md := run(t, 1, bin, append([]string{"diff", "-o", "markdown"}, target...)...)
	if !strings.Contains(md, "> - replace ` StatefulSet "+sts+" `") || !strings.Contains(md, "| replace | ` StatefulSet "+sts+" `") {
		t.Errorf("markdown plan lacks the replace among the pending removals:\n%s", md)
	}
	var p diff.Plan
	raw, _ := os.ReadFile(plan)
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, ch := range p.Changes {
		if ch.Action == diff.Replace && ch.Name == sts && len(ch.Immutable) == 1 && ch.Immutable[0] == "spec.volumeClaimTemplates" && ch.UID == before["sts"] {
			found = true
		}
	}
	if !found {
		t.Errorf("JSON plan has no replace of %s bound to its uid:\n%s", sts, raw)
	}

	out := run(t, 0, bin, append([]string{"sync"}, target...)...)
	if !strings.Contains(out, "not written: StatefulSet "+sts) || uids(t, c, ns, sts)["sts"] != before["sts"] {
		t.Errorf("sync touched the StatefulSet to replace:\n%s", out)
	}

	out = run(t, 0, bin, append([]string{"prune", "--plan", plan}, target...)...)
	if !strings.Contains(out, "replaced   StatefulSet "+sts+": deleted, created again and ready") {
		t.Errorf("prune did not replace:\n%s", out)
	}
	after := uids(t, c, ns, sts)
	if after["sts"] == before["sts"] || after["pvc"] != before["pvc"] || after["pvc"] == "" {
		t.Errorf("want a new StatefulSet on the same claim: before %v, after %v", before, after)
	}
	// The kept claim grows with its template (its class allows expansion):
	// a clean diff never hides a claim smaller than the tree asks.
	pvc, err := c.Core.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), sts+"-volume-"+sts+"-0", metav1.GetOptions{})
	if err != nil || pvc.Spec.Resources.Requests.Storage().String() != "30Gi" || !strings.Contains(out, "request raised from 24Gi to 30Gi") {
		t.Errorf("the kept claim was not expanded to 30Gi: %v %v\n%s", err, pvc.Spec.Resources.Requests, out)
	}
	run(t, 0, bin, append([]string{"diff"}, target...)...)
}

// uids are the StatefulSet's and its first claim's.
func uids(t *testing.T, c *cluster.Clients, ns, sts string) map[string]string {
	t.Helper()
	s, err := c.Core.AppsV1().StatefulSets(ns).Get(t.Context(), sts, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{"sts": string(s.UID)}
	pvc, err := c.Core.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), sts+"-volume-"+sts+"-0", metav1.GetOptions{})
	if err == nil {
		out["pvc"] = string(pvc.UID)
	}
	return out
}
