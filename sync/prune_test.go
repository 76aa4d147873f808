package sync_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
)

const embedding = "models-config/models/qwen3-embedding-8b.yaml"

// A removed model stays until prune; prune removes the rule
// and targetRef, then the objects in reverse dependency order.
func TestRemovedModelPendingUntilPrune(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	e.sync(files, sync.DefaultOptions())
	before := e.live(allKinds...)
	delete(files, embedding)

	rep, _ := e.sync(files, sync.DefaultOptions())
	if len(rep.Applied) != 0 {
		t.Errorf("sync after removing a model applied %d objects", len(rep.Applied))
	}
	diffStrings(t, "live objects after sync without the model", before, e.live(allKinds...))
	if rules := ruleNames(e.get(routes, "envoy-ai-gateway-nrp")); !slices.Contains(rules, "qwen3-embedding-8b") {
		t.Errorf("sync removed the rule before prune: %v", rules)
	}
	res, _ := e.Plan(files)
	if n := len(res.Plan.Removals()); n != 6 {
		t.Fatalf("diff lists %d pending removals, want 6: %+v", n, res.Plan.Removals())
	}

	_, rec, err := e.prune(files, approve(t, res.Plan), sync.DefaultPruneOptions())
	if err != nil {
		t.Fatal(err)
	}
	diffStrings(t, "prune order", []string{
		"prune-item AIGatewayRoute envoy-ai-gateway-nrp",
		"prune-item BackendSecurityPolicy envoy-ai-gateway-nrp-apikey",
		"prune AIServiceBackend envoy-ai-gateway-qwen3-embedding-8b",
		"prune Backend envoy-ai-gateway-qwen3-embedding-8b",
		"prune StatefulSet qwen3-embedding-8b-vllm-inference",
		"prune Service qwen3-embedding-8b-vllm-inference",
	}, rec.lines)
	if rules := ruleNames(e.get(routes, "envoy-ai-gateway-nrp")); slices.Contains(rules, "qwen3-embedding-8b") {
		t.Errorf("rule still on the route after prune: %v", rules)
	}
	for _, ref := range ruleNames(e.get(securityPol, "envoy-ai-gateway-nrp-apikey")) {
		if strings.Contains(ref, "qwen3-embedding-8b") {
			t.Errorf("targetRef still on the policy after prune: %s", ref)
		}
	}
	if n := len(e.live(allKinds...)); n != 24 {
		t.Errorf("%d live objects after prune, want 24", n)
	}
	if res, _ := e.Plan(files); res.Plan.HasChanges() {
		t.Errorf("diff after prune still has changes: %+v", res.Plan.Removals())
	}
}

// The route whose last rule goes is deleted, and the traffic policy's
// targetRef to it removed first.
func TestRouteDeletedWithItsLastRule(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	e.sync(files, sync.DefaultOptions())
	for _, m := range []string{"qwen3", "qwen3-nairr", "qwen3-combined", "qwen35"} {
		delete(files, "models-config/models/"+m+".yaml")
	}
	res, _ := e.Plan(files)
	_, rec, err := e.prune(files, approve(t, res.Plan), sync.DefaultPruneOptions())
	if err != nil {
		t.Fatal(err)
	}
	// The traffic policy only covered this route, so it goes too, before the
	// route it points at; the shared API key policy loses its targetRefs
	// after the route, so no backend still routed loses its key.
	at := func(l string) int { return slices.Index(rec.lines, l) }
	item, policy, route := at("prune-item BackendSecurityPolicy envoy-ai-gateway-nrp-apikey"), at("prune BackendTrafficPolicy envoy-ai-gateway-nrp"), at("prune AIGatewayRoute envoy-ai-gateway-nrp-qwen")
	if policy < 0 || route < policy || item < route {
		t.Errorf("prune order: the traffic policy, then the route, then the targetRefs; got %v", rec.lines)
	}
	if _, err := e.C.Dynamic.Resource(routes).Namespace(e.NS).Get(t.Context(), "envoy-ai-gateway-nrp-qwen", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the emptied route still exists: %v", err)
	}
	if res, _ := e.Plan(files); res.Plan.HasChanges() {
		t.Errorf("diff after prune still has changes: %+v", res.Plan.Removals())
	}
}

// An object changed after the plan was made makes the plan
// stale, and prune changes nothing.
func TestPruneRefusesStalePlan(t *testing.T) {
	e, files, res := syncedThenRemoved(t)
	approved := approve(t, res.Plan)

	patch := []byte(`{"metadata":{"annotations":{"touched":"after the plan"}}}`)
	if _, err := e.C.Core.CoreV1().Services(e.NS).Patch(t.Context(), "qwen3-embedding-8b-vllm-inference", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	before := e.live(allKinds...)
	_, rec, err := e.prune(files, approved, sync.DefaultPruneOptions())
	if !errors.Is(err, sync.ErrStalePlan) || !strings.Contains(err.Error(), "changed since the plan was made: prune Service "+e.NS+"/qwen3-embedding-8b-vllm-inference") {
		t.Fatalf("prune error = %v, want a stale plan naming the Service", err)
	}
	if len(rec.lines) != 0 {
		t.Errorf("a refused prune did %v", rec.lines)
	}
	diffStrings(t, "live objects after the refused prune", before, e.live(allKinds...))

	// A removal that was not approved is refused as well.
	delete(files, "models-config/models/minimax.yaml")
	_, _, err = e.prune(files, approve(t, res.Plan), sync.DefaultPruneOptions())
	if !errors.Is(err, sync.ErrStalePlan) || !strings.Contains(err.Error(), "pending but not in the approved plan: prune StatefulSet "+e.NS+"/minimax-vllm-inference") {
		t.Errorf("prune error = %v, want the unapproved StatefulSet named", err)
	}
}

func TestMassDeletionGuard(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	e.sync(files, sync.DefaultOptions())
	empty := fstest.MapFS{"models-config/README.md": &fstest.MapFile{Data: []byte("nothing")}}
	res, _ := e.Plan(empty)
	_, _, err := e.prune(empty, approve(t, res.Plan), sync.DefaultPruneOptions())
	if !errors.Is(err, sync.ErrMassPrune) || !strings.Contains(err.Error(), "desired set is empty") {
		t.Fatalf("prune of an empty tree: %v, want the mass-deletion guard", err)
	}
	opts := sync.DefaultPruneOptions()
	opts.MaxPrunes = 3
	delete(files, embedding)
	res, _ = e.Plan(files)
	if _, _, err := e.prune(files, approve(t, res.Plan), opts); !errors.Is(err, sync.ErrMassPrune) || !strings.Contains(err.Error(), "4 objects would be deleted, more than the most one prune deletes (3)") {
		t.Fatalf("prune of 4 objects with --max-prunes 3: %v", err)
	}
	if n := len(e.live(allKinds...)); n != 28 {
		t.Errorf("the guard let %d objects go", 28-n)
	}
	opts.AllowMass = true
	if _, _, err := e.prune(files, approve(t, res.Plan), opts); err != nil {
		t.Errorf("--allow-mass-prune: %v", err)
	}
}

// Prune-disabled objects stay; claims of pruned StatefulSets are kept and
// reported; an object held by a finalizer is reported, not waited for, and
// its kind stays in the inventory.
func TestPruneKeepsDisabledClaimsAndReportsFinalizers(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	e.sync(files, sync.DefaultOptions())
	disabled := []byte(`{"metadata":{"annotations":{"` + inventory.AnnotationPrune + `":"disabled"}}}`)
	if _, err := e.C.Core.CoreV1().Services(e.NS).Patch(t.Context(), "qwen3-embedding-8b-vllm-inference", types.MergePatchType, disabled, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	finalizer := []byte(`{"metadata":{"finalizers":["example.com/hold"]}}`)
	if _, err := e.C.Dynamic.Resource(backends).Namespace(e.NS).Patch(t.Context(), "envoy-ai-gateway-qwen3-embedding-8b", types.MergePatchType, finalizer, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	claim := e.createClaim("qwen3-embedding-8b-vllm-inference")
	delete(files, embedding)
	res, _ := e.Plan(files)
	if n := res.Plan.Counts()[diff.Prune]; n != 3 {
		t.Fatalf("%d prunes, want 3 (the disabled Service kept): %+v", n, res.Plan.Removals())
	}
	opts := sync.DefaultPruneOptions()
	opts.Terminating = time.Second
	rep, _, err := e.prune(files, approve(t, res.Plan), opts)
	if err != nil {
		t.Fatal(err)
	}
	var stuck []string
	for _, p := range rep.Pruned {
		if len(p.Finalizers) > 0 {
			stuck = append(stuck, p.Change.Kind+" "+p.Change.Name+" "+strings.Join(p.Finalizers, ","))
		}
	}
	diffStrings(t, "stuck objects", []string{"Backend envoy-ai-gateway-qwen3-embedding-8b example.com/hold"}, stuck)
	diffStrings(t, "claims reported", []string{claim}, rep.Claims)
	if _, err := e.C.Core.CoreV1().PersistentVolumeClaims(e.NS).Get(t.Context(), claim, metav1.GetOptions{}); err != nil {
		t.Errorf("the claim was not kept: %v", err)
	}
	if _, err := e.C.Core.CoreV1().Services(e.NS).Get(t.Context(), "qwen3-embedding-8b-vllm-inference", metav1.GetOptions{}); err != nil {
		t.Errorf("the prune-disabled Service was deleted: %v", err)
	}
	parent, err := inventory.New(e.C.Reader(), e.NS, inventory.DefaultName).Parent(t.Context())
	if err != nil || !slices.ContainsFunc(parent.GroupKinds, func(gk schema.GroupKind) bool { return gk.Kind == "Backend" }) {
		t.Errorf("the terminating Backend's kind left the inventory: %+v %v", parent.GroupKinds, err)
	}

	// Released, the Backend goes; a new plan has nothing left but the kept Service.
	if _, err := e.C.Dynamic.Resource(backends).Namespace(e.NS).Patch(t.Context(), "envoy-ai-gateway-qwen3-embedding-8b", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if res, _ := e.Plan(files); res.Plan.HasChanges() {
		t.Errorf("plan after the finalizer went: %+v", res.Plan.Removals())
	}
}

func TestPruneDeletesClaimsWhenAsked(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	e.sync(files, sync.DefaultOptions())
	claim := e.createClaim("qwen3-embedding-8b-vllm-inference")
	delete(files, embedding)
	res, _ := e.Plan(files)
	opts := sync.DefaultPruneOptions()
	opts.DeleteClaims = true
	rep, _, err := e.prune(files, approve(t, res.Plan), opts)
	if err != nil {
		t.Fatal(err)
	}
	diffStrings(t, "claims deleted", []string{claim}, rep.Claims)
	// The API server's pvc-protection finalizer keeps it terminating until a
	// controller releases it; deleted is what prune can do.
	got, err := e.C.Core.CoreV1().PersistentVolumeClaims(e.NS).Get(t.Context(), claim, metav1.GetOptions{})
	if err == nil && got.DeletionTimestamp == nil {
		t.Errorf("claim %s not deleted", claim)
	}
}

// createClaim creates the claim the StatefulSet controller would create for
// the first volumeClaimTemplate of the named StatefulSet's pod 0.
func (e *env) createClaim(statefulSetName string) string {
	e.T.Helper()
	sts := e.get(statefulSet, statefulSetName)
	templates, _, _ := unstructured.NestedSlice(sts.Object, "spec", "volumeClaimTemplates")
	if len(templates) == 0 {
		e.T.Fatal("the generated StatefulSet has no volumeClaimTemplates")
	}
	tpl, _, _ := unstructured.NestedString(templates[0].(map[string]any), "metadata", "name")
	claim := tpl + "-" + statefulSetName + "-0"
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: claim},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if _, err := e.C.Core.CoreV1().PersistentVolumeClaims(e.NS).Create(e.T.Context(), pvc, metav1.CreateOptions{}); err != nil {
		e.T.Fatal(err)
	}
	return claim
}

// A replace's prune killed while it waited for the new StatefulSet, rerun
// with the same plan, waits for the replacement again (or fails saying it is
// not ready); it is not "already done" while nothing serves. The API server
// here runs no StatefulSet controller, so the replacement never gets ready.
func TestReplaceRerunWaitsForTheReplacement(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	e.sync(files, sync.DefaultOptions())
	grown := strings.Replace(string(files[embedding].Data), "    trustRemoteCode: true\n", "    trustRemoteCode: true\n    overrides:\n      storage: 30Gi\n", 1)
	files[embedding] = &fstest.MapFile{Data: []byte(grown)}
	res, _ := e.Plan(files)
	approved := approve(t, res.Plan)
	if n := res.Plan.Counts()[diff.Replace]; n != 1 {
		t.Fatalf("%d replaces planned, want 1", n)
	}
	prune := func(wait time.Duration) (sync.PruneReport, error) {
		ctx, cancel := context.WithTimeout(t.Context(), wait)
		defer cancel()
		now, _ := e.Plan(files)
		return sync.NewManager(e.C, e.NS, inventory.DefaultName).Prune(ctx, approved, now, sync.DefaultPruneOptions(), sync.NoProgress{})
	}
	// The first prune deletes, creates again, and is stopped while it waits.
	if rep, _ := prune(3 * time.Second); rep.Count()[sync.Failed] != 1 {
		t.Fatalf("the interrupted prune: %+v", rep.Pruned)
	}
	rep, err := prune(3 * time.Second)
	if err == nil || rep.Count()[sync.AlreadyGone] != 0 || rep.Count()[sync.Failed] != 1 || !strings.Contains(rep.Pruned[0].Err.Error(), "not ready") {
		t.Errorf("the rerun reported the unready replacement as done: err %v, %+v", err, rep.Pruned)
	}
}

// A multi-node Model's claims (made by the StatefulSets its LeaderWorkerSet
// controller owns: the leader's and each worker's) are listed on the prune
// of its LeaderWorkerSet and deleted with consent, like a StatefulSet's.
func TestLeaderWorkerSetClaimsAreListedAndDeletable(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	const glm = "models-config/models/glm-5.yaml"
	files[glm] = kubetest.ModelsConfig(t)[glm]
	e.sync(files, sync.DefaultOptions())
	const lws = "glm-5-vllm-inference"
	claims := []string{lws + "-volume-" + lws + "-0", lws + "-volume-" + lws + "-0-1", lws + "-volume-" + lws + "-0-2"}
	for _, name := range append(claims, "someone-elses-claim") {
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("811Gi")}},
		}}
		if _, err := e.C.Core.CoreV1().PersistentVolumeClaims(e.NS).Create(t.Context(), pvc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	delete(files, glm)
	res, _ := e.Plan(files)
	var listed []string
	for _, ch := range res.Plan.Changes {
		if ch.Action == diff.Prune && ch.Kind == "LeaderWorkerSet" {
			for _, c := range ch.Claims {
				listed = append(listed, c.Name)
			}
		}
	}
	diffStrings(t, "claims listed on the LeaderWorkerSet's prune", claims, listed)
	opts := sync.DefaultPruneOptions()
	opts.DeleteClaims = true
	rep, _, err := e.prune(files, approve(t, res.Plan), opts)
	if err != nil {
		t.Fatal(err)
	}
	diffStrings(t, "claims the prune reports", claims, rep.Claims)
	left, err := e.C.Core.CoreV1().PersistentVolumeClaims(e.NS).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range left.Items {
		if c.DeletionTimestamp == nil {
			names = append(names, c.Name)
		}
	}
	diffStrings(t, "claims left", []string{"someone-elses-claim"}, names)
}

// A prune confirms each deletion by uid: a StatefulSet the approved plan
// removes, whose membership label was taken off by hand before the prune
// (so no plan lists it any more), still exists with its GPUs and claim. The
// prune reports it as not deleted and fails; it never says "already gone".
func TestUnlabeledApprovedObjectIsNotReportedDone(t *testing.T) {
	e, files, res := syncedThenRemoved(t)
	approved := approve(t, res.Plan)
	var sts *diff.Change
	for _, c := range approved.Changes {
		if c.Action == diff.Prune && c.Kind == "StatefulSet" {
			sts = &c
			break
		}
	}
	if sts == nil {
		t.Fatalf("the plan prunes no StatefulSet: %+v", approved.Changes)
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:null}}}`, inventory.LabelPartOf)
	if _, err := e.C.Core.AppsV1().StatefulSets(e.NS).Patch(t.Context(), sts.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, _, err := e.prune(files, approved, sync.DefaultPruneOptions())
	if err == nil {
		t.Errorf("the prune succeeded; want it to fail on the StatefulSet it did not delete")
	}
	for _, p := range rep.Pruned {
		if p.Change.Kind == "StatefulSet" && p.Change.Name == sts.Name {
			if p.State != sync.Failed || p.Err == nil || !strings.Contains(p.Err.Error(), "without the label") {
				t.Errorf("the unlabeled StatefulSet: %s %v, want failed: without the label", p.State, p.Err)
			}
		}
	}
	if _, err := e.C.Core.AppsV1().StatefulSets(e.NS).Get(t.Context(), sts.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("the StatefulSet without modelsync's label was deleted: %v", err)
	}
}

// A rule or targetRef is written only once its backend exists and is not
// terminating. A prune removed the embedding model's rule and targetRef and
// deleted its AIServiceBackend, which a finalizer holds; the revert's sync
// cannot create the backend again, so it holds back the route and the
// policy that would point at it (no rule points at what is going away),
// fails naming them, and does not record its revision as synced. Once the
// backend is gone, sync writes all of it.
func TestRevertWhileABackendTerminatesWritesNoDanglingRule(t *testing.T) {
	e := newEnv(t)
	files := kubetest.RepoTree(t)
	e.sync(files, sync.DefaultOptions())
	const backend = "envoy-ai-gateway-qwen3-embedding-8b"
	patch := []byte(`{"metadata":{"finalizers":["test.modelsync.dev/hold"]}}`) // a controller's, as the AI Gateway's
	if _, err := e.C.Dynamic.Resource(aiBackends).Namespace(e.NS).Patch(t.Context(), backend, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	delete(files, embedding)
	res, _ := e.Plan(files)
	opts := sync.DefaultPruneOptions()
	opts.Terminating = time.Second
	if _, _, err := e.prune(files, approve(t, res.Plan), opts); err != nil && !errors.Is(err, sync.ErrPartial) {
		t.Fatalf("prune: %v", err)
	}
	if e.get(aiBackends, backend).GetDeletionTimestamp() == nil {
		t.Fatal("the AIServiceBackend is not terminating")
	}

	reverted := kubetest.RepoTree(t)
	_, _, err := e.trySync(t.Context(), reverted, sync.DefaultOptions())
	if !errors.Is(err, sync.ErrHeldBack) || !strings.Contains(err.Error(), "AIGatewayRoute envoy-ai-gateway-nrp") || !strings.Contains(err.Error(), "BackendSecurityPolicy") {
		t.Errorf("the revert's sync: %v, want the route and the policy held back", err)
	}
	if rules := ruleNames(e.get(routes, "envoy-ai-gateway-nrp")); slices.Contains(rules, "qwen3-embedding-8b") {
		t.Errorf("the route has a rule for the terminating backend: %v", rules)
	}
	parent, err := e.C.Core.CoreV1().Secrets(e.NS).Get(t.Context(), inventory.DefaultName, metav1.GetOptions{})
	if err != nil || parent.Annotations[inventory.AnnotationBegan] != "rev1" {
		t.Fatalf("the inventory after the held sync: %v, %v", parent.Annotations, err)
	}

	// The finalizer lets go: the next sync writes the backend and the rule.
	if _, err := e.C.Dynamic.Resource(aiBackends).Namespace(e.NS).Patch(t.Context(), backend, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := e.C.Dynamic.Resource(aiBackends).Namespace(e.NS).Get(ctx, backend, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Fatal("the AIServiceBackend did not go")
	}
	if _, _, err := e.trySync(t.Context(), reverted, sync.DefaultOptions()); err != nil {
		t.Fatalf("sync once the backend is gone: %v", err)
	}
	if rules := ruleNames(e.get(routes, "envoy-ai-gateway-nrp")); !slices.Contains(rules, "qwen3-embedding-8b") {
		t.Errorf("the route lacks the model's rule after the backend came back: %v", rules)
	}
}
