package live_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"modelsync.dev/modelsync/internal/controlplane"
	"modelsync.dev/modelsync/internal/testing/gitlabtest"
	"modelsync.dev/modelsync/internal/testing/kubetest"
)

// gitlab-ci-local runs .gitlab-ci.yml with GitLab's rules, needs,
// artifacts, components and child pipelines, with the shell executor.
const gitlabCILocalVersion = "4.75.1"

const (
	componentTag = "0.2.0"
	mrToken      = "glpat-models-config"
	mrIID        = 7
)

// The CI/CD component, run by gitlab-ci-local from a repository that holds
// only models-config/ (the cluster team's llm-proxy project), with two
// targets: nrp-llm (the repository's models on the kwok GPU nodes) and
// sdsc-llm (an external model). The component is fetched over git's HTTP
// protocol from a server holding this working tree's templates/ at tag
// 0.2.0; the modelsync binary on PATH stands in for the image. Merge requests
// diff as the plan identity (dry runs only), the default branch syncs and
// prunes as the apply identity.
func TestPipelineFromAModelsConfigRepository(t *testing.T) {
	root := repoRoot(t)
	gcl := installGitLabCILocal(t, root)
	bin := buildModelsync(t)
	gl := gitlabtest.New(t, mrToken, "42", mrIID)
	git := serveGit(t, componentRepo(t, root))

	admin := kubernetes.NewForConfigOrDie(kubetest.Config(t))
	for _, ns := range []string{"nrp-llm", "sdsc-llm"} {
		useNamespace(t, admin, ns)
	}
	repo := modelsRepo(t, root, git.URL)
	kubeconfig := identities(t, repo, bin)

	pipelineWith := func(t *testing.T, flags []string, vars ...string) (string, error) {
		t.Helper()
		args := []string{"--force-shell-executor", "--color=false", "--cwd", ".",
			"--variable", "PATH=" + filepath.Dir(bin) + ":" + os.Getenv("PATH"),
			"--variable", "HOME=" + t.TempDir(),
			"--variable", "KUBECONFIG=" + kubeconfig,
			"--variable", "CI_API_V4_URL=" + gl.APIURL(),
			"--variable", "CI_PROJECT_ID=42",
			"--variable", "MODELSYNC_GITLAB_TOKEN=" + mrToken}
		args = append(args, flags...)
		for _, v := range vars {
			args = append(args, "--variable", v)
		}
		cmd := exec.CommandContext(t.Context(), gcl.node, append([]string{gcl.script}, args...)...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "NODE_OPTIONS=--require="+gcl.polyfill, "HOME="+gcl.home,
			"PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
		start := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("gitlab-ci-local %s: %s", strings.Join(vars, " "), time.Since(start).Round(100*time.Millisecond))
		return string(out), err
	}
	pipeline := func(t *testing.T, vars ...string) (string, error) {
		t.Helper()
		return pipelineWith(t, nil, vars...)
	}
	// gitlab-ci-local fetches the two includes of the one component at
	// once, and the second copy into its include cache can fail ("File
	// exists"). Fetch it once first, over git's HTTP as ever, with the
	// component included once; every run after finds it cached.
	ciFile := filepath.Join(repo, ".gitlab-ci.yml")
	both, err := os.ReadFile(ciFile)
	if err != nil {
		t.Fatal(err)
	}
	once, _, _ := strings.Cut(string(both), "      apply-context: \"agents:modelsync\"\n")
	if err := os.WriteFile(ciFile, []byte(once+"      apply-context: \"agents:modelsync\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := pipelineWith(t, []string{"--list"}); err != nil || !strings.Contains(out, "downloaded modelsync/modelsync") {
		t.Fatalf("fetching the component: %v\n%s", err, out)
	}
	if err := os.WriteFile(ciFile, both, 0o644); err != nil {
		t.Fatal(err)
	}
	mergeRequest := func(t *testing.T) (string, error) {
		t.Helper()
		base := strings.TrimSpace(gitOut(t, repo, "rev-parse", "HEAD~1"))
		return pipeline(t, "CI_PIPELINE_SOURCE=merge_request_event", "CI_MERGE_REQUEST_IID=7", "CI_MERGE_REQUEST_DIFF_BASE_SHA="+base)
	}

	if !t.Run("merge request: a note per target, then updated", func(t *testing.T) {
		for round, verb := range []string{"created", "updated"} {
			out, err := mergeRequest(t)
			if err != nil {
				t.Fatalf("MR pipeline %d: %v\n%s", round+1, err, out)
			}
			if n := strings.Count(out, verb+" note"); n != 2 {
				t.Errorf("MR pipeline %d: %d notes %s, want one per target\n%s", round+1, n, verb, out)
			}
		}
		notes := gl.Notes()
		if len(notes) != 2 {
			t.Fatalf("%d notes on the MR, want 2 (one per target)", len(notes))
		}
		for _, ns := range []string{"nrp-llm", "sdsc-llm"} {
			if body := noteOf(gl, ns); !strings.Contains(body, "| create |") {
				t.Errorf("%s's note holds no plan:\n%s", ns, body)
			}
		}
		// The reviewer's view: the models the change touches, the GPUs
		// before and after as a chart, and the diffs under their model.
		body := noteOf(gl, "nrp-llm")
		for _, want := range []string{"| model | change | GPUs before | GPUs after | memory | storage |", "| ` minimax ` | added |",
			"```mermaid\nxychart-beta\n", "<details><summary><code>Model minimax (added)</code>: "} {
			if !strings.Contains(body, want) {
				t.Errorf("nrp-llm's note lacks %q:\n%s", want, body)
			}
		}
	}) {
		return
	}

	if !t.Run("merge request: a failed validation replaces the note", func(t *testing.T) {
		broken := filepath.Join(repo, "models-config", "nrp-llm", "models", "broken.yaml")
		if err := os.WriteFile(broken, []byte("apiVersion: modelsync.dev/v1alpha1\nkind: Model\nmetadata:\n  name: broken\nspec:\n  upstream: org/broken\n  route: envoy-ai-gateway-nrp\n  server:\n    gpus: four\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(broken)
		out, err := mergeRequest(t)
		if err == nil {
			t.Errorf("the MR pipeline passed with a broken tree:\n%s", out)
		}
		if !strings.Contains(out, "nrp-llm/models/broken.yaml:9") {
			t.Errorf("validate's log does not show the problem:\n%s", out)
		}
		if n := len(gl.Notes()); n != 2 {
			t.Fatalf("%d notes on the MR, want 2", n)
		}
		if body := noteOf(gl, "nrp-llm"); !strings.Contains(body, "no plan") || !strings.Contains(body, "broken.yaml:9") || strings.Contains(body, "| create |") {
			t.Errorf("nrp-llm's note still shows a plan:\n%s", body)
		}
		if body := noteOf(gl, "sdsc-llm"); !strings.Contains(body, "| create |") {
			t.Errorf("sdsc-llm's note lost its plan:\n%s", body)
		}
	}) {
		return
	}

	if !t.Run("default branch: plan, sync, and no prune gate when nothing is removed", func(t *testing.T) {
		out, err := pipeline(t)
		if err != nil {
			t.Fatalf("default-branch pipeline: %v\n%s", err, out)
		}
		for _, want := range []string{"nrp-llm-sync", "sdsc-llm-sync", "all healthy", "the plan removes nothing: no prune gate", "[nrp-llm-prune] -> nothing-to-prune", "[sdsc-llm-prune] -> nothing-to-prune"} {
			if !strings.Contains(out, want) {
				t.Errorf("the pipeline log lacks %q\n%s", want, out)
			}
		}
		if strings.Contains(out, "modelsync prune") {
			t.Errorf("a prune job ran or waits though nothing is removed:\n%s", out)
		}
		for _, ns := range []string{"nrp-llm", "sdsc-llm"} {
			if code, out := modelsyncDiff(t, bin, repo, ns); code != 0 {
				t.Errorf("diff %s after the pipeline: exit %d\n%s", ns, code, out)
			}
		}
	}) {
		return
	}

	t.Run("default branch: a removed model gets the manual prune in a child pipeline", func(t *testing.T) {
		if err := os.Remove(filepath.Join(repo, "models-config", "nrp-llm", "models", "qwen3-embedding-8b.yaml")); err != nil {
			t.Fatal(err)
		}
		gitOut(t, repo, "commit", "-qam", "drop the embedding model")
		out, err := pipeline(t)
		if err != nil {
			t.Fatalf("default-branch pipeline: %v\n%s", err, out)
		}
		if !strings.Contains(out, "the prune waits for approval in the child pipeline") || !strings.Contains(out, "[sdsc-llm-prune] -> nothing-to-prune") || strings.Contains(out, "[nrp-llm-prune] -> prune") {
			t.Errorf("want nrp-llm's child pipeline holding the manual prune, not run, and nothing to approve for sdsc-llm:\n%s", out)
		}
		if _, err := admin.AppsV1().StatefulSets("nrp-llm").Get(t.Context(), "qwen3-embedding-8b-vllm-inference", metav1.GetOptions{}); err != nil {
			t.Errorf("the removed model's StatefulSet is gone before approval: %v", err)
		}
		if code, out := modelsyncDiff(t, bin, repo, "nrp-llm"); code != 1 || !strings.Contains(out, "4 to prune, 2 entries to remove") {
			t.Errorf("diff after the pipeline: exit %d\n%s", code, out)
		}
		// The approver starts the child pipeline's manual job: it deletes
		// what the plan approved.
		child := filepath.Join(".gitlab-ci-local", "includes", "triggers", "nrp-llm-prune.yml")
		out, err = pipelineWith(t, []string{"--file", child, "--manual", "prune"}, "CI_PIPELINE_SOURCE=parent_pipeline")
		if err != nil || !strings.Contains(out, "deleted    StatefulSet qwen3-embedding-8b-vllm-inference") {
			t.Fatalf("the approved prune: %v\n%s", err, out)
		}
		if code, out := modelsyncDiff(t, bin, repo, "nrp-llm"); code != 0 {
			t.Errorf("diff after the approved prune: exit %d\n%s", code, out)
		}
	})
}

// noteOf is the body of the merge request note of target ns.
func noteOf(gl *gitlabtest.Server, ns string) string {
	for _, n := range gl.Notes() {
		if strings.Contains(n.Body, "modelsync-plan namespace="+ns+" ") {
			return n.Body
		}
	}
	return ""
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, _ := os.Getwd()
	root, err := controlplane.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

type gitlabCILocal struct{ node, script, polyfill, home string }

// installGitLabCILocal installs the pinned gitlab-ci-local from npm into the
// git-ignored cache, once. Node 20 lacks Set.prototype.union, which it
// uses; a preloaded polyfill supplies it.
func installGitLabCILocal(t *testing.T, root string) gitlabCILocal {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the pipeline test runs gitlab-ci-local, an npm package (Debian: apt-get install nodejs npm)")
	}
	prefix := filepath.Join(root, ".cache", "npm", "gitlab-ci-local-"+gitlabCILocalVersion)
	script := filepath.Join(prefix, "node_modules", "gitlab-ci-local", "dist", "index.js")
	if _, err := os.Stat(script); err != nil {
		cmd := exec.CommandContext(t.Context(), "npm", "install", "--no-audit", "--no-fund", "--prefix", prefix, "gitlab-ci-local@"+gitlabCILocalVersion)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm install gitlab-ci-local@%s: %v\n%s", gitlabCILocalVersion, err, out)
		}
	}
	dir := t.TempDir()
	polyfill := filepath.Join(dir, "set-union.cjs")
	if err := os.WriteFile(polyfill, []byte(`if (!Set.prototype.union) {
  Set.prototype.union = function (other) { const s = new Set(this); for (const v of other) s.add(v); return s; };
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	return gitlabCILocal{node: node, script: script, polyfill: polyfill, home: dir}
}

// buildModelsync builds the binary the image holds, stamped as the release,
// and beside it the copy step gitlab-ci-local runs as rsync
// (internal/rsync), so the test needs no rsync on the machine.
func buildModelsync(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "modelsync")
	for _, b := range []struct{ out, pkg string }{
		{bin, "modelsync.dev/modelsync/cmd/modelsync"},
		{filepath.Join(dir, "rsync"), "modelsync.dev/modelsync/internal/testing/rsync"},
	} {
		cmd := exec.CommandContext(t.Context(), "go", "build", "-o", b.out, "-ldflags", "-X modelsync.dev/modelsync/internal/buildinfo.version=v"+componentTag, b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return bin
}

// componentRepo is a bare repository modelsync/modelsync.git holding this
// working tree's templates/ at the release tag.
func componentRepo(t *testing.T, root string) string {
	t.Helper()
	work, projects := t.TempDir(), t.TempDir()
	if err := os.CopyFS(filepath.Join(work, "templates"), os.DirFS(filepath.Join(root, "templates"))); err != nil {
		t.Fatal(err)
	}
	gitOut(t, work, "init", "-q", "-b", "main")
	gitOut(t, work, "add", ".")
	gitOut(t, work, "commit", "-qm", "modelsync "+componentTag)
	gitOut(t, work, "tag", componentTag)
	bare := filepath.Join(projects, "modelsync", "modelsync.git")
	gitOut(t, projects, "clone", "-q", "--bare", work, bare)
	gitOut(t, bare, "config", "uploadpack.allowFilter", "true")
	return projects
}

// serveGit serves the repositories under dir over git's smart HTTP
// protocol, as GitLab does.
func serveGit(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	exe := strings.TrimSpace(gitOut(t, dir, "--exec-path"))
	h := &cgi.Handler{Path: filepath.Join(exe, "git-http-backend"), Env: []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1"}}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(s.Close)
	return s
}

// modelsRepo is the cluster team's repository: models-config/ for two
// targets and a .gitlab-ci.yml that includes the component once per target.
func modelsRepo(t *testing.T, root, gitURL string) string {
	t.Helper()
	repo := t.TempDir()
	host := strings.TrimPrefix(gitURL, "http://")
	if err := os.CopyFS(filepath.Join(repo, "models-config", "nrp-llm"), os.DirFS(filepath.Join(root, "models-config"))); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"models-config/sdsc-llm/route.yaml": `apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: envoy-ai-gateway-sdsc
spec:
  parentRefs:
  - name: envoy-ai-gateway-sdsc
    kind: Gateway
    group: gateway.networking.k8s.io
`,
		"models-config/sdsc-llm/models/partner.yaml": string(kubetest.ExternalModel("partner", "envoy-ai-gateway-sdsc").Data),
		".gitignore": "/.gitlab-ci-local/\n/.modelsync/\n",
		".gitlab-ci.yml": `workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_PIPELINE_SOURCE == "schedule"
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH

stages: [validate, plan, sync, prune]

include:
  - component: ` + host + `/modelsync/modelsync/modelsync@` + componentTag + `
    inputs:
      namespace: nrp-llm
      path: models-config/nrp-llm
      plan-context: "agents:modelsync-plan"
      apply-context: "agents:modelsync"
  - component: ` + host + `/modelsync/modelsync/modelsync@` + componentTag + `
    inputs:
      namespace: sdsc-llm
      path: models-config/sdsc-llm
      plan-context: "agents:modelsync-plan"
      apply-context: "agents:modelsync"
`,
	}
	for name, data := range files {
		p := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitOut(t, repo, "init", "-q", "-b", "main")
	gitOut(t, repo, "remote", "add", "origin", gitURL+"/team/llm-proxy.git")
	gitOut(t, repo, "add", ".")
	gitOut(t, repo, "commit", "-qm", "models-config before modelsync")
	// The merge request: the team's models, now under modelsync.
	if err := os.WriteFile(filepath.Join(repo, "models-config", "nrp-llm", "README"), []byte("synced by modelsync\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitOut(t, repo, "add", ".")
	gitOut(t, repo, "commit", "-qm", "hand models-config to modelsync")
	return repo
}

// identities binds the two client-certificate users to what `modelsync
// rbac` prints for each target (apply: the Role; plan: the Role and the
// dry-run-only policy) and writes one kubeconfig with a context for each,
// named as the GitLab agent names them.
func identities(t *testing.T, repo, bin string) string {
	t.Helper()
	admin := kubetest.KubeconfigFile(t)
	for _, ns := range []string{"nrp-llm", "sdsc-llm"} {
		path := filepath.Join(repo, "models-config", ns)
		for _, args := range [][]string{
			{"rbac", "--path", path, "-n", ns, "--user", "modelsync"},
			{"rbac", "--identity", "plan", "--path", path, "-n", ns, "--user", "modelsync-plan"},
		} {
			out, err := exec.Command(bin, args...).Output()
			if err != nil {
				t.Fatalf("modelsync %s: %v", strings.Join(args, " "), err)
			}
			kubetest.Kubectl(t, "", string(out), "apply", "-f", "-")
		}
		// RBAC reads its bindings from an informer: wait until both
		// identities have their verbs before the first pipeline.
		for _, user := range []string{"modelsync", "modelsync-plan"} {
			if err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
				err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", admin, "auth", "can-i", "get", "secrets/modelsync", "-n", ns, "--as", user).Run()
				return err == nil, nil
			}); err != nil {
				t.Fatalf("the Role of %s in %s never took effect", user, ns)
			}
		}
	}
	// The fence policy and its bindings (cluster-scoped) stay after the
	// test, as they would in a cluster: a binding selects its namespace by
	// name, and deleting the last one would leave the API server reading
	// old copies of every Lease until it restarts (kubernetes/kubernetes#130887),
	// which a second run of this test on the same API server met.
	cfg := clientcmdapi.NewConfig()
	for _, id := range []struct{ user, context string }{{"modelsync", "agents:modelsync"}, {"modelsync-plan", "agents:modelsync-plan"}} {
		path, _ := kubetest.UserKubeconfig(t, id.user)
		kc, err := clientcmd.LoadFromFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ctx := kc.Contexts[kc.CurrentContext]
		cfg.Clusters["local"] = kc.Clusters[ctx.Cluster]
		cfg.AuthInfos[id.user] = kc.AuthInfos[ctx.AuthInfo]
		cfg.Contexts[id.context] = &clientcmdapi.Context{Cluster: "local", AuthInfo: id.user}
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// useNamespace creates ns and deletes it when the test ends, waiting until
// it is gone so that the next test finds the GPUs free.
func useNamespace(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	gpusFree(t, cs)
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		_ = cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		if err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		}); err != nil {
			t.Errorf("namespace %s was not deleted after the test: %v", ns, err)
		}
	})
}

// gpusFree waits until no pod on the simulated cluster holds a GPU: the
// tests that roll models out share its nodes, and each needs them to
// itself. A previous test's pods still there after the wait fail the test
// with their names.
func gpusFree(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	var held []string
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		held = held[:0]
		for _, p := range pods.Items {
			if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			for _, c := range p.Spec.Containers {
				for r, q := range c.Resources.Requests {
					if strings.HasPrefix(string(r), "nvidia.com/") {
						held = append(held, fmt.Sprintf("%s/%s (%s %s on %s)", p.Namespace, p.Name, q.String(), r, p.Spec.NodeName))
					}
				}
			}
		}
		return len(held) == 0, nil
	})
	if err != nil {
		t.Fatalf("the simulated cluster's GPUs are still held, %v: %s", err, strings.Join(held, ", "))
	}
}

// modelsyncDiff is an operator's diff of a target, as the cluster admin.
func modelsyncDiff(t *testing.T, bin, repo, ns string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, "diff", "--kubeconfig", kubetest.KubeconfigFile(t), "-n", ns, "--path", filepath.Join(repo, "models-config", ns))
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.com"}, args...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
