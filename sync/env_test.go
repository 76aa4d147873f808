package sync_test

import (
	"context"
	"encoding/json"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/internal/controlplane"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// env is one test's namespace on the shared control plane.
type env struct{ *kubetest.Env }

func newEnv(t *testing.T) *env { return &env{kubetest.NewEnv(t)} }

// privateEnv is namespace ns, created, on cp: a control plane of the test's
// own (kubetest.PrivateControlPlane), for a test that stops it or changes
// what the whole API server serves.
func privateEnv(t *testing.T, cp *controlplane.ControlPlane, ns string) *env {
	t.Helper()
	c, err := cluster.New(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Core.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return &env{&kubetest.Env{T: t, NS: ns, C: c}}
}

// sync plans and applies files, failing the test on an error.
func (e *env) sync(files fstest.MapFS, opts sync.Options) (sync.Report, *recorder) {
	e.T.Helper()
	rep, rec, err := e.trySync(e.T.Context(), files, opts)
	if err != nil {
		e.T.Fatal(err)
	}
	return rep, rec
}

func (e *env) trySync(ctx context.Context, files fstest.MapFS, opts sync.Options) (sync.Report, *recorder, error) {
	res, _ := e.Plan(files)
	rec := &recorder{}
	rep, err := sync.NewManager(e.C, e.NS, inventory.DefaultName).Apply(ctx, res, "rev1", opts, rec)
	return rep, rec, err
}

// approve is the plan as the prune job reads it: through its JSON form.
func approve(t testing.TB, p *diff.Plan) *diff.Plan {
	t.Helper()
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var out diff.Plan
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func (e *env) prune(files fstest.MapFS, approved *diff.Plan, opts sync.PruneOptions) (sync.PruneReport, *recorder, error) {
	e.T.Helper()
	res, _ := e.Plan(files)
	rec := &recorder{}
	rep, err := sync.NewManager(e.C, e.NS, inventory.DefaultName).Prune(e.T.Context(), approved, res, opts, rec)
	return rep, rec, err
}

// recorder keeps the progress calls in order.
type recorder struct {
	sync.NoProgress
	lines []string
}

func (r *recorder) Applied(a sync.Applied) {
	r.lines = append(r.lines, string(a.Change.Action)+" "+a.Change.Kind+" "+a.Change.Name)
}
func (r *recorder) Pruned(p sync.Pruned) {
	r.lines = append(r.lines, string(p.Change.Action)+" "+p.Change.Kind+" "+p.Change.Name)
}

// live lists the namespace's objects of the given kinds as "Kind name" → resourceVersion.
func (e *env) live(gvrs ...schema.GroupVersionResource) map[string]string {
	e.T.Helper()
	out := map[string]string{}
	for _, gvr := range gvrs {
		list, err := e.C.Dynamic.Resource(gvr).Namespace(e.NS).List(e.T.Context(), metav1.ListOptions{})
		if err != nil {
			e.T.Fatal(err)
		}
		for _, u := range list.Items {
			out[u.GetKind()+" "+u.GetName()] = u.GetResourceVersion()
		}
	}
	return out
}

func (e *env) get(gvr schema.GroupVersionResource, name string) *unstructured.Unstructured {
	e.T.Helper()
	u, err := e.C.Dynamic.Resource(gvr).Namespace(e.NS).Get(e.T.Context(), name, metav1.GetOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	return u
}

var (
	services    = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	statefulSet = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
	backends    = schema.GroupVersionResource{Group: "gateway.envoyproxy.io", Version: "v1alpha1", Resource: "backends"}
	aiBackends  = schema.GroupVersionResource{Group: "aigateway.envoyproxy.io", Version: "v1beta1", Resource: "aiservicebackends"}
	routes      = schema.GroupVersionResource{Group: "aigateway.envoyproxy.io", Version: "v1beta1", Resource: "aigatewayroutes"}
	securityPol = schema.GroupVersionResource{Group: "aigateway.envoyproxy.io", Version: "v1beta1", Resource: "backendsecuritypolicies"}
	trafficPol  = schema.GroupVersionResource{Group: "gateway.envoyproxy.io", Version: "v1alpha1", Resource: "backendtrafficpolicies"}
	allKinds    = []schema.GroupVersionResource{services, statefulSet, backends, aiBackends, routes, securityPol, trafficPol}
)

func ruleNames(u *unstructured.Unstructured) []string {
	var out []string
	for _, it := range gateway.Items(u) {
		out = append(out, it.Key)
	}
	return out
}

func diffStrings(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

// syncedThenRemoved syncs the repository's tree into a new namespace,
// removes the embedding model from the tree and plans: the start of the
// prune tests, which then approve the plan, or change the cluster first.
func syncedThenRemoved(t *testing.T) (*env, fstest.MapFS, *diff.Result) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	e.sync(files, sync.DefaultOptions())
	delete(files, embedding)
	res, _ := e.Plan(files)
	return e, files, res
}
