package diff_test

import (
	"bytes"

	"modelsync.dev/modelsync/report"

	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/testing/golden"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
	"modelsync.dev/modelsync/tree/desired"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// tree is models-config/ copied into memory, which tests then change.
func tree(t *testing.T) fstest.MapFS { return kubetest.RepoTree(t) }

// env is a test's namespace; sync applies a tree as the CLI does.
type env struct{ *kubetest.Env }

func newEnv(t *testing.T) *env { return &env{kubetest.NewEnv(t)} }

func (e *env) sync(files fstest.MapFS, adopt bool) {
	e.T.Helper()
	res, _ := e.Plan(files)
	opts := sync.DefaultOptions()
	opts.Adopt = adopt
	if _, err := sync.NewManager(e.C, e.NS, inventory.DefaultName).Apply(e.T.Context(), res, "", opts, sync.NoProgress{}); err != nil {
		e.T.Fatal(err)
	}
}

// summary lists the non-unchanged changes as "action Kind name [item]".
func summary(p *diff.Plan) []string {
	var out []string
	for _, c := range p.Changes {
		if c.Action == diff.Unchanged {
			continue
		}
		s := string(c.Action) + " " + c.Kind + " " + c.Name
		if c.Item != nil {
			s += " " + c.Item.Noun + " " + c.Item.Key
		}
		out = append(out, s)
	}
	return out
}

func TestFirstPlanCreatesThenNoChanges(t *testing.T) {
	e := newEnv(t)
	files := tree(t)
	res, _ := e.Plan(files)
	if n := res.Plan.Counts()[diff.Create]; n != 28 || len(summary(res.Plan)) != 28 {
		t.Fatalf("first plan: %d creates, changes %v", n, summary(res.Plan))
	}
	e.sync(files, false)
	res, _ = e.Plan(files)
	if res.Plan.HasChanges() {
		t.Fatalf("untouched tree after sync shows changes: %v", summary(res.Plan))
	}
	if res.Plan.Inventory == "" || res.Plan.Namespace != e.NS {
		t.Errorf("plan target = %q %q", res.Plan.Inventory, res.Plan.Namespace)
	}
}

func TestRemovedModelShowsPruneAndPruneItems(t *testing.T) {
	e := newEnv(t)
	files := tree(t)
	e.sync(files, false)
	delete(files, "models-config/models/qwen3-embedding-8b.yaml")
	res, _ := e.Plan(files)
	want := []string{
		"prune-item AIGatewayRoute envoy-ai-gateway-nrp rule qwen3-embedding-8b",
		"prune-item BackendSecurityPolicy envoy-ai-gateway-nrp-apikey targetRef aigateway.envoyproxy.io/AIServiceBackend/envoy-ai-gateway-qwen3-embedding-8b",
		"prune Service qwen3-embedding-8b-vllm-inference",
		"prune StatefulSet qwen3-embedding-8b-vllm-inference",
		"prune Backend envoy-ai-gateway-qwen3-embedding-8b",
		"prune AIServiceBackend envoy-ai-gateway-qwen3-embedding-8b",
	}
	if d := cmp.Diff(slices.Sorted(slices.Values(want)), slices.Sorted(slices.Values(summary(res.Plan)))); d != "" {
		t.Errorf("changes (-want +got):\n%s", d)
	}
	// The MR widget counts object deletions as delete; a rule or targetRef
	// removed from a shared object is a write of that object.
	if got, want := res.Plan.Report(), (diff.Report{Update: 2, Delete: 4}); got != want {
		t.Errorf("report = %+v, want %+v", got, want)
	}
	var env strings.Builder
	if err := report.WriteDotenv(&env, res.Plan); err != nil || env.String() != "MODELSYNC_CREATE=0\nMODELSYNC_UPDATE=2\nMODELSYNC_DELETE=4\nMODELSYNC_REMOVALS=6\n" {
		t.Errorf("dotenv: %q %v", env.String(), err)
	}
	for _, c := range res.Plan.Removals() {
		if c.UID == "" || c.ResourceVersion == "" {
			t.Errorf("%s %s has no uid/resourceVersion precondition", c.Kind, c.Name)
		}
	}
}

func TestUpdateConflictAndCreate(t *testing.T) {
	e := newEnv(t)
	files := tree(t)
	e.sync(files, false)
	// A hand edit of a field modelsync owns.
	patch := []byte(`{"spec":{"endpoints":[{"fqdn":{"hostname":"hand.example","port":80}}]}}`)
	if _, err := e.C.Dynamic.Resource(backends).Namespace(e.NS).Patch(t.Context(), "envoy-ai-gateway-minimax", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	// A change in the tree, and a new model.
	m := files["models-config/models/qwen3-nairr.yaml"]
	m.Data = bytes.Replace(m.Data, []byte("port: 5000"), []byte("port: 5001"), 1)
	files["models-config/models/new.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: modelsync.dev/v1alpha1\nkind: Model\nmetadata:\n  name: new\nspec:\n  route: envoy-ai-gateway-nrp\n  external: {hostname: new.example, port: 443}\n")}
	res, _ := e.Plan(files)
	got := map[string]diff.Change{}
	for _, c := range res.Plan.Changes {
		got[string(c.Action)+" "+c.Kind+" "+c.Name] = c
	}
	conflict, ok := got["conflict Backend envoy-ai-gateway-minimax"]
	if !ok || !strings.Contains(strings.Join(conflict.Conflicts, " "), "kubectl-edit") || !strings.Contains(conflict.Diff, "-      hostname: hand.example") {
		t.Errorf("no conflict naming kubectl-edit for the hand edit: %+v", conflict)
	}
	upd, ok := got["update Backend envoy-ai-gateway-sdsc-nairr-qwen3"]
	if !ok || !strings.Contains(upd.Diff, "-      port: 5000\n+      port: 5001") || upd.Origin != "models-config/models/qwen3-nairr.yaml:2" {
		t.Errorf("update of the changed Backend: %+v", upd)
	}
	for _, k := range []string{"create Backend envoy-ai-gateway-new", "create AIServiceBackend envoy-ai-gateway-new", "update AIGatewayRoute envoy-ai-gateway-nrp"} {
		if _, ok := got[k]; !ok {
			t.Errorf("missing %q in %v", k, summary(res.Plan))
		}
	}
}

func TestSecretValuesMasked(t *testing.T) {
	e := newEnv(t)
	secret := func(v string) fstest.MapFS {
		return fstest.MapFS{"models-config/s.yaml": &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: key\nstringData:\n  same: unchanged-value\n  token: " + v + "\n")}}
	}
	e.sync(secret("first-secret-value"), false)
	res, _ := e.Plan(secret("second-secret-value"))
	var buf bytes.Buffer
	for _, w := range []func() error{
		func() error { return res.Plan.WriteJSON(&buf) },
		func() error { return report.WriteText(&buf, res.Plan) },
		func() error { return report.WriteMarkdown(&buf, res.Plan, report.MarkdownOptions{}) },
	} {
		if err := w(); err != nil {
			t.Fatal(err)
		}
	}
	out := buf.String()
	for _, leak := range []string{"first-secret-value", "second-secret-value", "unchanged-value", "Zmlyc3Q"} {
		if strings.Contains(out, leak) {
			t.Errorf("plan output leaks %q", leak)
		}
	}
	if !strings.Contains(out, "*** (before)") || !strings.Contains(out, "*** (after)") {
		t.Errorf("changed Secret not shown as masked before/after:\n%s", out)
	}
}

func TestAdoptObjectCreatedWithKubectlApply(t *testing.T) {
	e := newEnv(t)
	obj := "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: Backend\nmetadata:\n  name: by-hand\nspec:\n  endpoints:\n  - fqdn: {hostname: by-hand.example, port: 5000}\n"
	kubetest.Kubectl(t, e.NS, obj, "apply", "-f", "-")
	res, _ := e.Plan(fstest.MapFS{"models-config/b.yaml": &fstest.MapFile{Data: []byte(obj)}})
	if d := cmp.Diff([]string{"adopt Backend by-hand"}, summary(res.Plan)); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	if m := strings.Join(res.Plan.Changes[0].Owners, " "); !strings.Contains(m, "kubectl-client-side-apply") {
		t.Errorf("adopt does not name kubectl's field manager: %q", m)
	}
}

// deprecatedTree is an AIServiceBackend in its deprecated v1alpha1 version, and its Backend.
func deprecatedTree() fstest.MapFS {
	return fstest.MapFS{"models-config/a.yaml": &fstest.MapFile{Data: []byte("apiVersion: aigateway.envoyproxy.io/v1alpha1\nkind: AIServiceBackend\nmetadata:\n  name: old\nspec:\n  schema: {name: OpenAI}\n  backendRef: {name: old, kind: Backend, group: gateway.envoyproxy.io}\n" +
		"---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: Backend\nmetadata:\n  name: old\nspec:\n  endpoints:\n  - fqdn: {hostname: old.example, port: 5000}\n")}}
}

func TestDeprecatedVersionWarning(t *testing.T) {
	e := newEnv(t)
	res, _ := e.Plan(deprecatedTree())
	joined := strings.Join(res.Plan.Warnings, "\n")
	if !strings.Contains(joined, "AIServiceBackend "+e.NS+"/old: ") || !strings.Contains(joined, "deprecated") {
		t.Errorf("no deprecation warning for the v1alpha1 object: %q", res.Plan.Warnings)
	}
}

func TestDryRunRefusalIsAnErrorWithOrigin(t *testing.T) {
	e := newEnv(t)
	files := fstest.MapFS{"models-config/a.yaml": &fstest.MapFile{Data: []byte("apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: Backend\nmetadata:\n  name: bad\nspec:\n  endpoints:\n  - fqdn: {hostname: bad.example, port: 5000}\n  notAField: true\n")}}
	res, _ := e.Plan(files)
	c := res.Plan.Changes[0]
	if c.Action != diff.Error || c.Origin != "models-config/a.yaml:1" || !strings.Contains(c.Message, "notAField") {
		t.Errorf("strict field validation: got %+v", c)
	}
}

func TestRenderingGolden(t *testing.T) {
	e := newEnv(t)
	files := tree(t)
	e.sync(files, false)
	// Drift already on the cluster before the merge request: a hand edit.
	patch := []byte(`{"spec":{"endpoints":[{"fqdn":{"hostname":"hand.example","port":8000}}]}}`)
	if _, err := e.C.Dynamic.Resource(backends).Namespace(e.NS).Patch(t.Context(), "envoy-ai-gateway-minimax", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	base, _ := e.Plan(files)
	base.Plan.Revision = "0123456789abcdef-target-branch"
	// The merge request adds one model and removes another.
	delete(files, "models-config/models/qwen35.yaml")
	files["models-config/models/llama.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: modelsync.dev/v1alpha1\nkind: Model\nmetadata:\n  name: llama\nspec:\n  upstream: meta-llama/Llama-3.3-70B-Instruct\n  route: envoy-ai-gateway-nrp\n  external: {hostname: llama.example, port: 443}\n")}
	res, _ := e.Plan(files)
	res.Plan.MarkDrift(base.Plan)
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"plan.txt", func(b *bytes.Buffer) error { return report.WriteText(b, res.Plan) }},
		{"plan.md", func(b *bytes.Buffer) error {
			return report.WriteMarkdown(b, res.Plan, report.MarkdownOptions{Marker: "modelsync-plan", ArtifactURL: "https://gitlab.example/job/1/artifacts"})
		}},
	} {
		var buf bytes.Buffer
		if err := f.write(&buf); err != nil {
			t.Fatal(err)
		}
		got := strings.ReplaceAll(strings.ReplaceAll(buf.String(), res.Plan.Inventory, "INVENTORY"), e.NS, "NAMESPACE")
		golden.Check(t, goldenFile(f.name), []byte(got))
	}
}

var backends = schema.GroupVersionResource{Group: "gateway.envoyproxy.io", Version: "v1alpha1", Resource: "backends"}

func syncSet(t testing.TB, e *env, set *desired.Set) {
	d := diff.New(e.C.Reader(), e.NS, diff.DefaultOptions())
	res, err := d.Plan(t.Context(), set)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sync.NewManager(e.C, e.NS, inventory.DefaultName).Apply(t.Context(), res, "", sync.DefaultOptions(), sync.NoProgress{}); err != nil {
		t.Fatal(err)
	}
}

// Replacing a model in a full route: the new rule and the removed one, kept
// until the prune, make 16. The plan says so and what to do, instead of the
// API server's bare count.
func TestFullRouteWithPendingRemovalExplained(t *testing.T) {
	e := newEnv(t)
	files := kubetest.GeneratedTree(15)
	e.sync(files, false)
	delete(files, "models-config/models/m0003.yaml")
	files["models-config/models/z-new.yaml"] = kubetest.ExternalModel("z-new", "g0")
	res, _ := e.Plan(files)
	for _, c := range res.Plan.Changes {
		if c.Kind != "AIGatewayRoute" || c.Item != nil {
			continue
		}
		if c.Action != diff.Error || c.Origin != "models-config/gatewayroute/g0.yaml:1" ||
			!strings.Contains(c.Message, "would hold 16 rules, more than the 15") || !strings.Contains(c.Message, "(m0003)") || !strings.Contains(c.Message, "approve a plan and run prune") {
			t.Errorf("route g0: %+v", c)
		}
	}
}

// The approver reads the text or markdown plan, not plan.json: the claims a
// prune keeps (or deletes with --delete-pvcs) are named there too.
func TestPlansNameTheClaims(t *testing.T) {
	p := &diff.Plan{Namespace: "ns", Inventory: "id", Changes: []diff.Change{{Action: diff.Prune, Kind: "StatefulSet", Name: "glm-5-0",
		Claims: []diff.Claim{{Name: "cache-glm-5-0-0", UID: "u1"}, {Name: "cache-glm-5-0-1-0", UID: "u2"}}}}}
	var text, md bytes.Buffer
	if err := report.WriteText(&text, p); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteMarkdown(&md, p, report.MarkdownOptions{}); err != nil {
		t.Fatal(err)
	}
	for what, out := range map[string]string{"text": text.String(), "markdown": md.String()} {
		if !strings.Contains(out, "cache-glm-5-0-0, cache-glm-5-0-1-0") || !strings.Contains(out, "--delete-pvcs") {
			t.Errorf("the %s plan does not name the claims:\n%s", what, out)
		}
	}
}

// goldenFile is where the plan's golden renderings are.
func goldenFile(name string) string { return filepath.Join("..", "testdata", "golden", "diff", name) }
