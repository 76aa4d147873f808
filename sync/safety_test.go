package sync_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/rbac"
	"modelsync.dev/modelsync/sync"
)

// Controllers writing status between the plan and
// the prune do not make the approval stale.
func TestApprovalSurvivesStatusChurn(t *testing.T) {
	e, files, res := syncedThenRemoved(t)
	approved := approve(t, res.Plan)

	sts := e.get(statefulSet, "qwen3-embedding-8b-vllm-inference")
	for _, f := range []struct {
		path []string
		v    int64
	}{{[]string{"status", "replicas"}, 1}, {[]string{"status", "observedGeneration"}, 1}, {[]string{"status", "availableReplicas"}, 0}} {
		if err := unstructured.SetNestedField(sts.Object, f.v, f.path...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.C.Dynamic.Resource(statefulSet).Namespace(e.NS).UpdateStatus(t.Context(), sts, metav1.UpdateOptions{FieldManager: "kube-controller-manager"}); err != nil {
		t.Fatal(err)
	}
	route := e.get(routes, "envoy-ai-gateway-nrp")
	cond := map[string]any{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "ok", "lastTransitionTime": "2026-11-22T10:00:00Z"}
	if err := unstructured.SetNestedSlice(route.Object, []any{cond}, "status", "conditions"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.C.Dynamic.Resource(routes).Namespace(e.NS).UpdateStatus(t.Context(), route, metav1.UpdateOptions{FieldManager: "envoy-ai-gateway-controller"}); err != nil {
		t.Fatal(err)
	}
	if got := e.get(statefulSet, "qwen3-embedding-8b-vllm-inference").GetResourceVersion(); got == sts.GetResourceVersion() {
		t.Fatal("the status write did not change the StatefulSet's resourceVersion; the test shows nothing")
	}

	rep, _, err := e.prune(files, approved, sync.DefaultPruneOptions())
	if err != nil {
		t.Fatalf("prune after a status write: %v", err)
	}
	if n := rep.Count()[sync.Removed]; n != 6 {
		t.Errorf("%d removals done, want 6: %+v", n, rep.Pruned)
	}
	if res, _ := e.Plan(files); res.Plan.HasChanges() {
		t.Errorf("plan after the prune: %+v", res.Plan.Removals())
	}
}

// Removing an entry writes the live object minus the approved
// entries: a model added to the tree since is not written by the prune.
func TestPruneWritesNothingUnapproved(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	e.sync(files, sync.DefaultOptions())
	before := ruleNames(e.get(routes, "envoy-ai-gateway-nrp"))
	beforeKeys := ruleNames(e.get(securityPol, "envoy-ai-gateway-nrp-apikey"))
	delete(files, embedding)
	files["models-config/models/extra.yaml"] = kubetest.ExternalModel("extra", "envoy-ai-gateway-nrp")
	res, _ := e.Plan(files)
	if !slices.ContainsFunc(res.Plan.Changes, func(c diff.Change) bool { return c.Action == diff.Create && strings.Contains(c.Name, "extra") }) {
		t.Fatalf("the plan does not create the added model: %+v", res.Plan.Changes)
	}
	if _, _, err := e.prune(files, approve(t, res.Plan), sync.DefaultPruneOptions()); err != nil {
		t.Fatal(err)
	}
	want := slices.DeleteFunc(slices.Clone(before), func(k string) bool { return k == "qwen3-embedding-8b" })
	diffStrings(t, "route rules after the prune", want, ruleNames(e.get(routes, "envoy-ai-gateway-nrp")))
	wantKeys := slices.DeleteFunc(slices.Clone(beforeKeys), func(k string) bool { return strings.Contains(k, "qwen3-embedding-8b") })
	diffStrings(t, "API key targetRefs after the prune", wantKeys, ruleNames(e.get(securityPol, "envoy-ai-gateway-nrp-apikey")))
	if _, err := e.C.Dynamic.Resource(aiBackends).Namespace(e.NS).Get(t.Context(), "envoy-ai-gateway-extra", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the prune created the added model's AIServiceBackend: %v", err)
	}
	// The addition is sync's: after it, nothing is left to do.
	e.sync(files, sync.DefaultOptions())
	if res, _ := e.Plan(files); res.Plan.HasChanges() {
		t.Errorf("plan after prune and sync: %+v", res.Plan.Changes)
	}
}

// A route delete the API server refuses (the identity may not
// delete routes) holds back the backends, Services and workloads the route
// still points at, and the API key targetRefs of those backends; the exit is
// partial, and the same plan finishes once the permission is granted.
func TestFailedDeleteHoldsBackWhatItPointsAt(t *testing.T) {
	admin := newEnv(t)
	files := kubetest.RepoTree(t)
	admin.sync(files, sync.DefaultOptions())
	full := admin.kinds()
	for _, m := range []string{"qwen3", "qwen3-nairr", "qwen3-combined", "qwen35"} {
		delete(files, "models-config/models/"+m+".yaml")
	}
	ci := admin.as(t, "ci-prune", withoutVerb(full, "aigatewayroutes", "delete"))
	res, _ := ci.Plan(files)
	approved := approve(t, res.Plan)
	opts := sync.DefaultPruneOptions()
	opts.AllowMass = true // this prune deletes most of the set on purpose
	rep, _, err := ci.prune(files, approved, opts)
	if !errors.Is(err, sync.ErrPartial) {
		t.Fatalf("prune with a forbidden route delete: %v, want a partial prune", err)
	}
	states := map[string]sync.State{}
	for _, p := range rep.Pruned {
		states[string(p.Change.Action)+" "+p.Change.Kind+" "+p.Change.Name] = p.State
	}
	if s := states["prune AIGatewayRoute envoy-ai-gateway-nrp-qwen"]; s != sync.Failed {
		t.Errorf("route: %s, want failed", s)
	}
	var held []string
	for k, s := range states {
		if s == sync.NotAttempted {
			held = append(held, k)
		}
	}
	for _, kind := range []string{"AIServiceBackend", "Backend", "Service", "StatefulSet", "BackendSecurityPolicy"} {
		if !slices.ContainsFunc(held, func(k string) bool { return strings.Contains(k, " "+kind+" ") }) {
			t.Errorf("no %s held back; held back: %v", kind, held)
		}
	}
	for _, k := range held {
		if s := states[k]; s == sync.Removed {
			t.Errorf("%s removed although held back", k)
		}
	}
	// The route still routes: every backend it points at exists.
	for _, b := range backendRefs(admin.get(routes, "envoy-ai-gateway-nrp-qwen")) {
		admin.get(aiBackends, b)
	}

	admin.grant(t, "ci-prune", full)
	rep, _, err = ci.prune(files, approved, opts)
	if err != nil {
		t.Fatalf("the same plan after granting delete: %v", err)
	}
	if n := rep.Count(); n[sync.Failed]+n[sync.NotAttempted] > 0 || n[sync.AlreadyGone] == 0 {
		t.Errorf("rerun: %v", n)
	}
	if res, _ := admin.Plan(files); res.Plan.HasChanges() {
		t.Errorf("plan after the finished prune: %+v", res.Plan.Removals())
	}
}

// A prune stopped half-way (its process killed: here, every request
// after the first removal cancelled) is finished by the same approved plan.
func TestInterruptedPruneFinishesWithTheSamePlan(t *testing.T) {
	e, files, res := syncedThenRemoved(t)
	approved := approve(t, res.Plan)
	ctx, kill := context.WithCancel(t.Context())
	killer := &killAfter{n: 3, kill: kill}
	_, err := sync.NewManager(e.C, e.NS, inventory.DefaultName).Prune(ctx, approved, res, sync.DefaultPruneOptions(), killer)
	if err == nil {
		t.Fatal("the killed prune reported success")
	}
	if n := len(e.live(allKinds...)); n == 28 || n == 24 {
		t.Fatalf("%d live objects after the kill: the test must stop half-way", n)
	}
	rep, rec, err := e.prune(files, approved, sync.DefaultPruneOptions())
	if err != nil {
		t.Fatalf("rerun of the same plan: %v", err)
	}
	if n := rep.Count(); n[sync.AlreadyGone] < 2 || n[sync.Removed] == 0 {
		t.Errorf("rerun: %v (%v)", n, rec.lines)
	}
	if n := len(e.live(allKinds...)); n != 24 {
		t.Errorf("%d live objects after the rerun, want 24", n)
	}
	if res, _ := e.Plan(files); res.Plan.HasChanges() {
		t.Errorf("plan after the rerun: %+v", res.Plan.Removals())
	}
}

// killAfter cancels the run after n removals have been reported.
type killAfter struct {
	sync.NoProgress
	n    int
	kill context.CancelFunc
}

func (k *killAfter) Pruned(sync.Pruned) {
	if k.n--; k.n == 0 {
		k.kill()
	}
}

func backendRefs(route *unstructured.Unstructured) []string {
	var out []string
	rules, _, _ := unstructured.NestedSlice(route.Object, "spec", "rules")
	for _, r := range rules {
		refs, _, _ := unstructured.NestedSlice(r.(map[string]any), "backendRefs")
		for _, ref := range refs {
			out = append(out, ref.(map[string]any)["name"].(string))
		}
	}
	return out
}

// kinds are the kinds of the live set.
func (e *env) kinds() []schema.GroupVersionKind {
	var out []schema.GroupVersionKind
	for _, gvr := range allKinds {
		list, err := e.C.Dynamic.Resource(gvr).Namespace(e.NS).List(e.T.Context(), metav1.ListOptions{Limit: 1})
		if err != nil {
			e.T.Fatal(err)
		}
		if len(list.Items) > 0 {
			out = append(out, list.Items[0].GroupVersionKind())
		}
	}
	return out
}

func withoutVerb(kinds []schema.GroupVersionKind, resource, verb string) func() *rbacv1.Role {
	return func() *rbacv1.Role {
		role, _ := rbac.Role(rbac.Options{Name: "modelsync", Kinds: kinds})
		var rules []rbacv1.PolicyRule
		for _, r := range role.Rules {
			if !slices.Contains(r.Resources, resource) {
				rules = append(rules, r)
				continue
			}
			rest := r.DeepCopy()
			rest.Resources = slices.DeleteFunc(slices.Clone(r.Resources), func(s string) bool { return s == resource })
			if len(rest.Resources) > 0 {
				rules = append(rules, *rest)
			}
			one := r.DeepCopy()
			one.Resources = []string{resource}
			one.Verbs = slices.DeleteFunc(slices.Clone(r.Verbs), func(s string) bool { return s == verb })
			rules = append(rules, *one)
		}
		role.Rules = rules
		return role
	}
}

// as binds a client-certificate user to the Role role() returns in the
// test's namespace and returns an env acting as that user.
func (e *env) as(t *testing.T, user string, role func() *rbacv1.Role) *env {
	t.Helper()
	_, cfg := kubetest.UserKubeconfig(t, user)
	r := role()
	r.Namespace = e.NS
	if _, err := e.C.Core.RbacV1().Roles(e.NS).Create(t.Context(), r, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: e.NS},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: r.Name},
	}
	if _, err := e.C.Core.RbacV1().RoleBindings(e.NS).Create(t.Context(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u := &env{&kubetest.Env{T: t, NS: e.NS, C: c}}
	u.waitAllowed(t, "get", "", "secrets", inventory.DefaultName)
	return u
}

// grant replaces the user's Role with the full generated one.
func (e *env) grant(t *testing.T, user string, kinds []schema.GroupVersionKind) {
	t.Helper()
	role, _ := rbac.Role(rbac.Options{Name: "modelsync", Namespace: e.NS, Kinds: kinds})
	live, err := e.C.Core.RbacV1().Roles(e.NS).Get(t.Context(), "modelsync", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	live.Rules = role.Rules
	if _, err := e.C.Core.RbacV1().Roles(e.NS).Update(t.Context(), live, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, cfg := kubetest.UserKubeconfig(t, user)
	c, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	(&env{&kubetest.Env{T: t, NS: e.NS, C: c}}).waitAllowed(t, "delete", "aigateway.envoyproxy.io", "aigatewayroutes", "")
}

// waitAllowed waits until RBAC lets this env's identity do verb on resource
// (the object name, when a Role names it).
func (e *env) waitAllowed(t *testing.T, verb, group, resource, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: e.NS, Verb: verb, Group: group, Resource: resource, Name: name}}}
		got, err := e.C.Core.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		return err == nil && got.Status.Allowed, nil
	})
	if err != nil {
		t.Fatalf("RBAC never allowed %s %s: %v", verb, resource, err)
	}
}
