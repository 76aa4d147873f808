package diff_test

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"modelsync.dev/modelsync/diff"
)

var (
	statefulSets = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
	services     = schema.GroupVersionResource{Version: "v1", Resource: "services"}
)

// dryRun lists the objects a plan dry-ran, as "action Kind name", with the
// action each got; the rest were vouched for by the last sync's record.
func dryRun(res *diff.Result) []string {
	var out []string
	for _, p := range res.Predictions {
		if !p.Recorded {
			out = append(out, string(p.Change.Action)+" "+p.Object.GetKind()+" "+p.Object.GetName())
		}
	}
	slices.Sort(out)
	return out
}

func TestSyncedObjectsNeedNoDryRun(t *testing.T) {
	e := newEnv(t)
	files := tree(t)
	e.sync(files, false)
	res, _ := e.Plan(files)
	if res.Plan.HasChanges() || res.Plan.Verified != 28 || len(dryRun(res)) != 0 {
		t.Fatalf("plan after sync: %d verified by the record, dry-ran %v, changes %v", res.Plan.Verified, dryRun(res), summary(res.Plan))
	}
	// The parent, one LIST per group-kind, and one of the claims (checked
	// against the StatefulSets' templates): no request per object.
	if want := int64(2 + len(res.GroupKinds)); res.Plan.Requests > want {
		t.Errorf("a no-op plan of 28 objects took %d requests, want at most %d (the parent, a LIST per group-kind, the claims)", res.Plan.Requests, want)
	}

	// A controller writing status changes the resourceVersion, not what an
	// apply would do.
	sts, err := e.C.Dynamic.Resource(statefulSets).Namespace(e.NS).Get(t.Context(), "minimax-vllm-inference", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sts.Object["status"] = map[string]any{"observedGeneration": sts.GetGeneration(), "replicas": 1, "readyReplicas": 1, "currentRevision": "r1", "updateRevision": "r1"}
	if _, err := e.C.Dynamic.Resource(statefulSets).Namespace(e.NS).UpdateStatus(t.Context(), sts, metav1.UpdateOptions{FieldManager: "statefulset-controller"}); err != nil {
		t.Fatal(err)
	}
	if res, _ = e.Plan(files); res.Plan.Verified != 28 {
		t.Errorf("a status write made the plan dry-run %v", dryRun(res))
	}

	full := diff.DefaultOptions()
	full.Full = true
	res, _ = e.PlanWith(files, full)
	if res.Plan.HasChanges() || res.Plan.Verified != 0 || len(dryRun(res)) != 28 || res.Plan.Requests < 28 {
		t.Errorf("--full: %d verified, %d dry-run, %d requests, changes %v", res.Plan.Verified, len(dryRun(res)), res.Plan.Requests, summary(res.Plan))
	}
}

// Whatever someone else does to a synced object, the plan dry-runs it again
// and shows what a sync would do; the record never hides a change.
func TestRecordDoesNotHideChanges(t *testing.T) {
	e := newEnv(t)
	files := tree(t)
	e.sync(files, false)
	patch := func(gvr schema.GroupVersionResource, name string, pt types.PatchType, data, manager string) {
		t.Helper()
		opts := metav1.PatchOptions{FieldManager: manager}
		if pt == types.ApplyPatchType {
			force := true
			opts.Force = &force
		}
		if _, err := e.C.Dynamic.Resource(gvr).Namespace(e.NS).Patch(t.Context(), name, pt, []byte(data), opts); err != nil {
			t.Fatal(err)
		}
	}
	// A hand edit of a field modelsync owns.
	patch(backends, "envoy-ai-gateway-minimax", types.MergePatchType, `{"spec":{"endpoints":[{"fqdn":{"hostname":"hand.example","port":80}}]}}`, "kubectl-edit")
	// A label modelsync set, removed by hand: a removal records no owner, so
	// the record of what the last sync applied tells it from a tree change.
	patch(services, "qwen3-vllm-inference", types.JSONPatchType, `[{"op":"remove","path":"/metadata/labels/component"}]`, "kubectl-edit")
	// A label modelsync does not manage, added by hand: drift, which a sync
	// removes (fields added by hand are drift like fields changed by hand).
	patch(services, "minimax-vllm-inference", types.MergePatchType, `{"metadata":{"labels":{"team":"gpu"}}}`, "kubectl-label")
	// Another manager applies the same value: only who owns what changes.
	patch(backends, "envoy-ai-gateway-gpt-oss-120b", types.ApplyPatchType,
		`{"apiVersion":"gateway.envoyproxy.io/v1alpha1","kind":"Backend","metadata":{"name":"envoy-ai-gateway-gpt-oss-120b"},"spec":{"endpoints":[{"fqdn":{"hostname":"gpt-oss-120b-vllm-inference.`+e.NS+`.svc.cluster.local","port":5000}}]}}`, "another-tool")

	res, _ := e.Plan(files)
	want := []string{
		"conflict Backend envoy-ai-gateway-minimax",
		"conflict Service minimax-vllm-inference",
		"conflict Service qwen3-vllm-inference",
		"unchanged Backend envoy-ai-gateway-gpt-oss-120b",
	}
	if d := cmp.Diff(want, dryRun(res)); d != "" {
		t.Errorf("dry-run objects (-want +got):\n%s", d)
	}
	if res.Plan.Verified != 24 {
		t.Errorf("verified by the record: %d, want the 24 untouched objects", res.Plan.Verified)
	}

	// The sync writes what changed and records all: the next plan trusts everything again.
	e.sync(files, false)
	if res, _ = e.Plan(files); res.Plan.HasChanges() || res.Plan.Verified != 28 {
		t.Errorf("after the sync: %d verified, dry-ran %v, changes %v", res.Plan.Verified, dryRun(res), summary(res.Plan))
	}
}

func TestDeprecationWarnedWithoutDryRun(t *testing.T) {
	e := newEnv(t)
	files := deprecatedTree()
	e.sync(files, false)
	res, _ := e.Plan(files)
	if res.Plan.Verified != 2 {
		t.Fatalf("plan after sync dry-ran %v", dryRun(res))
	}
	// The text is the CRD's deprecationWarning, or the API server's default.
	joined := strings.Join(res.Plan.Warnings, "\n")
	if !strings.Contains(joined, "aigateway.envoyproxy.io/v1alpha1") || !strings.Contains(joined, "deprecated") {
		t.Errorf("no deprecation warning when nothing is dry-run: %q", res.Plan.Warnings)
	}
}

// A kind written in two versions is listed in the one most objects use; the
// others are read again in theirs, so they compare with what sync applied and
// their deprecation is warned about, naming them.
func TestKindInTwoVersions(t *testing.T) {
	e := newEnv(t)
	asb := func(version, name string) string {
		return "---\napiVersion: aigateway.envoyproxy.io/" + version + "\nkind: AIServiceBackend\nmetadata:\n  name: " + name +
			"\nspec:\n  schema: {name: OpenAI}\n  backendRef: {name: " + name + ", kind: Backend, group: gateway.envoyproxy.io}\n" +
			"---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: Backend\nmetadata:\n  name: " + name + "\nspec:\n  endpoints:\n  - fqdn: {hostname: " + name + ".example, port: 5000}\n"
	}
	files := fstest.MapFS{"models-config/a.yaml": &fstest.MapFile{Data: []byte(asb("v1alpha1", "old") + asb("v1beta1", "new-1") + asb("v1beta1", "new-2"))}}
	e.sync(files, false)
	res, _ := e.Plan(files)
	if res.Plan.HasChanges() || res.Plan.Verified != 6 {
		t.Errorf("plan after sync: %d verified, dry-ran %v, changes %v", res.Plan.Verified, dryRun(res), summary(res.Plan))
	}
	if w := strings.Join(res.Plan.Warnings, "\n"); !strings.Contains(w, "AIServiceBackend "+e.NS+"/old: aigateway.envoyproxy.io/v1alpha1") || !strings.Contains(w, "deprecated") {
		t.Errorf("warnings %q", res.Plan.Warnings)
	}
}

// Nothing derived from a Secret's values is recorded: Secrets are dry-run on
// every plan.
func TestSecretsAreAlwaysDryRun(t *testing.T) {
	e := newEnv(t)
	files := fstest.MapFS{"models-config/s.yaml": &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: key\nstringData:\n  token: short\n")}}
	e.sync(files, false)
	res, d := e.Plan(files)
	if res.Plan.HasChanges() || res.Plan.Verified != 0 || len(dryRun(res)) != 1 {
		t.Errorf("plan of a synced Secret: %d verified, dry-ran %v", res.Plan.Verified, dryRun(res))
	}
	parent, err := d.Inventory().Parent(t.Context())
	if err != nil || len(parent.Verified) != 0 {
		t.Errorf("the record holds %v (%v), want nothing for a Secret", parent.Verified, err)
	}
}
