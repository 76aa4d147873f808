package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/testing/gitlabtest"
	"modelsync.dev/modelsync/internal/testing/kubetest"
)

// The merge request job: plan files, the report for the MR widget, and one
// sticky note, updated on the next pipeline; a GitLab failure exits non-zero
// and keeps the plan files.
func TestDiffGitLabNote(t *testing.T) {
	gl := gitlabtest.New(t, "glpat-project-token", "42", 7)
	gl.Add("alice", "please add llama")
	t.Setenv("CI_API_V4_URL", gl.APIURL())
	t.Setenv("CI_PROJECT_ID", "42")
	t.Setenv("CI_MERGE_REQUEST_IID", "7")
	t.Setenv("CI_JOB_URL", "https://gitlab.example/group/models/-/jobs/99")
	t.Setenv("MODELSYNC_GITLAB_TOKEN", "glpat-project-token")
	ns := kubetest.Namespace(t)
	dir := kubetest.WriteTree(t, kubetest.RepoTree(t))
	out := t.TempDir()
	args := []string{"diff", "--gitlab-note", "--kubeconfig", kubetest.KubeconfigFile(t), "-n", ns, "--path", dir,
		"--plan-out", filepath.Join(out, "plan.json"), "--markdown-out", filepath.Join(out, "plan.md"), "--report-out", filepath.Join(out, "report.json")}

	code, _, stderr := run(args...)
	if code != 1 || !strings.Contains(stderr, "created note") {
		t.Fatalf("first MR pipeline: exit %d\n%s", code, stderr)
	}
	code, _, stderr = run(args...)
	if code != 1 || !strings.Contains(stderr, "updated note") {
		t.Fatalf("second MR pipeline: exit %d\n%s", code, stderr)
	}
	notes := gl.Notes()
	if len(notes) != 2 || notes[0].Body != "please add llama" || !strings.Contains(notes[1].Body, "<!-- modelsync-plan namespace="+ns+" inventory=modelsync -->") {
		t.Errorf("notes after two pipelines: %+v", notes)
	}
	md, _ := os.ReadFile(filepath.Join(out, "plan.md"))
	if string(md) != notes[1].Body {
		t.Error("the note differs from the markdown artifact")
	}
	var report diff.Report
	data, _ := os.ReadFile(filepath.Join(out, "report.json"))
	if err := json.Unmarshal(data, &report); err != nil || report != (diff.Report{Create: 28}) {
		t.Errorf("report.json = %s (%v), want 28 creations", data, err)
	}

	// A push that breaks the tree: the note says so instead of keeping the
	// previous plan.
	bad := filepath.Join(dir, "models", "broken.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: modelsync.dev/v1alpha1\nkind: Model\nmetadata:\n  name: broken\nspec:\n  server:\n    gpus: four\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(args...)
	notes = gl.Notes()
	if code != 2 || !strings.Contains(stderr, "updated note") || len(notes) != 2 {
		t.Fatalf("broken tree: exit %d, %d notes\n%s", code, len(notes), stderr)
	}
	if body := notes[1].Body; !strings.Contains(body, "no plan") || !strings.Contains(body, "models-config/models/broken.yaml:7") || strings.Contains(body, "| create") {
		t.Errorf("the note of a broken tree:\n%s", body)
	}
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(filepath.Join(out, "plan.json")); err != nil {
		t.Fatal(err)
	}
	gl.Fail = 500
	code, _, stderr = run(args...)
	if code != 2 || !strings.Contains(stderr, "GitLab is failing; retry the job (the plan files were written)") {
		t.Errorf("GitLab answering 500: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "plan.json")); err != nil {
		t.Errorf("the plan artifact was lost when the note failed: %v", err)
	}

	os.Unsetenv("MODELSYNC_GITLAB_TOKEN")
	if code, _, stderr := run(args...); code != 2 || !strings.Contains(stderr, "MODELSYNC_GITLAB_TOKEN not set") {
		t.Errorf("without a token: exit %d\n%s", code, stderr)
	}
}

// --baseline tells drift already on the cluster from the merge request's own changes.
func TestDiffBaselineMarksDrift(t *testing.T) {
	ns := kubetest.Namespace(t)
	root := filepath.Dir(kubetest.WriteTree(t, kubetest.RepoTree(t)))
	dir := filepath.Join(root, "models-config")
	commit := kubetest.GitRepo(t, root)
	base := commit("main")
	target := []string{"--kubeconfig", kubetest.KubeconfigFile(t), "-n", ns, "--path", dir}
	if code, _, stderr := run(append([]string{"sync"}, target...)...); code != 0 {
		t.Fatalf("sync: %s", stderr)
	}
	// Drift: a hand edit on the cluster, pending at the baseline already.
	kubetest.Kubectl(t, ns, "", "patch", "backend.gateway.envoyproxy.io", "envoy-ai-gateway-minimax", "--type", "merge",
		"-p", `{"spec":{"endpoints":[{"fqdn":{"hostname":"hand.example","port":8000}}]}}`)
	// The merge request's own change: drop a model.
	if err := os.Remove(filepath.Join(dir, "models", "qwen3-embedding-8b.yaml")); err != nil {
		t.Fatal(err)
	}
	commit("merge request: drop the embedding model")

	code, out, stderr := run(append([]string{"diff", "-o", "json", "--baseline", base}, target...)...)
	if code != 1 {
		t.Fatalf("diff --baseline: exit %d\n%s", code, stderr)
	}
	plan, err := diff.ReadJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if plan.Baseline != base {
		t.Errorf("baseline %q, want %s", plan.Baseline, base)
	}
	drift := map[string]bool{}
	for _, c := range plan.Changes {
		if c.Action != diff.Unchanged {
			drift[string(c.Action)+" "+c.Kind+" "+c.Name] = c.Drift
		}
	}
	want := map[string]bool{
		"conflict Backend envoy-ai-gateway-minimax":                    true,
		"prune Service qwen3-embedding-8b-vllm-inference":              false,
		"prune StatefulSet qwen3-embedding-8b-vllm-inference":          false,
		"prune Backend envoy-ai-gateway-qwen3-embedding-8b":            false,
		"prune AIServiceBackend envoy-ai-gateway-qwen3-embedding-8b":   false,
		"prune-item AIGatewayRoute envoy-ai-gateway-nrp":               false,
		"prune-item BackendSecurityPolicy envoy-ai-gateway-nrp-apikey": false,
	}
	if d := cmp.Diff(want, drift); d != "" {
		t.Errorf("drift marks (-want +got):\n%s", d)
	}
}
