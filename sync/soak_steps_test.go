package sync_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing/fstest"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/rbac"
	"modelsync.dev/modelsync/report/mrnote"
	"modelsync.dev/modelsync/sync"
)

// The soak's steps for GitLab's own world (the fourth round of deletion
// safety): retried jobs, a second tree, hand edits without a field manager,
// finalizers, withdrawn API versions, a missing fence and autoscalers.

const (
	soakTree      = "group/models:models-config"
	soakHPA       = "models-config/hpa.yaml"
	soakScaled    = "qwen3-vllm-inference" // the StatefulSet the tree's HPA scales
	soakFinalizer = "soak.modelsync.dev/hold"
)

// history is the default branch's: r<i> comes after r<j> when i ≥ j.
func (s *soak) history(ancestor, revision string) (bool, bool) {
	a, errA := strconv.Atoi(strings.TrimPrefix(ancestor, "r"))
	r, errR := strconv.Atoi(strings.TrimPrefix(revision, "r"))
	if errA != nil || errR != nil {
		return false, false
	}
	return r >= a, true
}

// syncOptions are a default-branch sync job's options.
func (s *soak) syncOptions(f sync.Fence) sync.Options {
	o := sync.DefaultOptions()
	o.Fence, o.Tree, o.History = f, soakTree, s.history
	return o
}

// retriedSync re-runs an older pipeline's sync job: GitLab's Retry, or the
// environment's Rollback. It is refused and writes nothing; with
// --allow-rollback (now and then) it syncs the old tree, and every earlier
// approval goes stale (the approvals' prunes check it).
func (s *soak) retriedSync() {
	_, headRev := s.head()
	i := s.rng.IntN(len(s.commits))
	tree, rev := s.commits[i], "r"+strconv.Itoa(i)
	allow := s.rng.IntN(3) == 0
	before, newest := s.members(), s.began()
	older := newest != "" && newest != rev && !mustDescend(s.history(newest, rev))
	res, _ := s.e.Plan(tree)
	err := s.withLease("retried "+rev, func(f sync.Fence) error {
		o := s.syncOptions(f)
		o.AllowRollback = allow
		_, err := sync.NewManager(s.e.C, s.e.NS, inventory.DefaultName).Apply(s.t.Context(), res, rev, o, sync.NoProgress{})
		return err
	})
	s.logf("retried sync job of %s (head %s, allow-rollback %v): %v", rev, headRev, allow, kubetest.FirstLine(err))
	s.count("retried sync")
	switch {
	case older && !allow && !errors.Is(err, sync.ErrRollback):
		s.fail("a retried sync of %s after a sync of %s began was not refused as a rollback: %v", rev, newest, err)
	case errors.Is(err, sync.ErrRollback):
		if after := s.members(); !maps(before, after) {
			s.fail("a refused rollback wrote:\n%s", changed(before, after))
		}
	case err != nil && !errors.Is(err, sync.ErrHeldBack):
		s.fail("retried sync of %s: %v", rev, err)
	case err == nil && older:
		s.scaledTo = -1 // a rollback syncs the old tree's count
	}
}

func mustDescend(descends, _ bool) bool { return descends }

// began is the newest revision a sync of the namespace began at.
func (s *soak) began() string {
	parent, err := s.e.C.Core.CoreV1().Secrets(s.e.NS).Get(s.t.Context(), inventory.DefaultName, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	if b := parent.Annotations[inventory.AnnotationBegan]; b != "" {
		return b
	}
	return parent.Annotations[inventory.AnnotationRevision]
}

// note writes the merge request's sticky note as the diff job of rev does.
func (s *soak) note(rev string, p *diff.Plan) error {
	t := mrnote.Target{APIURL: s.gitlab.APIURL(), Project: s.gitlab.Project, MergeRequest: s.gitlab.MergeRequest, Token: s.gitlab.Token, Commit: rev}
	marker := "modelsync-plan namespace=" + s.e.NS
	var body bytes.Buffer
	fmt.Fprintf(&body, "<!-- %s -->\nplan of %s: %d removal(s)\n", marker, rev, len(p.Removals()))
	_, err := mrnote.Upsert(s.t.Context(), t, marker, body.String(), mrnote.DefaultOptions())
	return err
}

// retriedDiff re-runs an older pipeline's diff job: the sticky note keeps
// the plan of the merge request's head.
func (s *soak) retriedDiff() {
	head, headRev := s.head()
	s.gitlab.Head = headRev
	res, _ := s.e.Plan(head)
	if err := s.note(headRev, res.Plan); err != nil {
		s.t.Fatal(err)
	}
	i := s.rng.IntN(len(s.commits))
	old, rev := s.commits[i], "r"+strconv.Itoa(i)
	res, _ = s.e.Plan(old)
	if err := s.note(rev, res.Plan); err != nil {
		s.t.Fatal(err)
	}
	s.logf("retried diff job of %s (head %s)", rev, headRev)
	s.count("retried diff")
	notes := s.gitlab.Notes()
	if len(notes) != 1 || !strings.Contains(notes[0].Body, "plan of "+headRev+":") {
		s.fail("after a retried diff job of %s the note is %+v, want the plan of the head %s", rev, notes, headRev)
	}
}

// secondTree is another repository's pipeline syncing the same namespace.
func (s *soak) secondTree() {
	head, rev := s.head()
	before := s.members()
	res, _ := s.e.Plan(head)
	err := s.withLease("other tree", func(f sync.Fence) error {
		o := s.syncOptions(f)
		o.Tree = "other/models:models-config"
		_, err := sync.NewManager(s.e.C, s.e.NS, inventory.DefaultName).Apply(s.t.Context(), res, rev, o, sync.NoProgress{})
		return err
	})
	s.logf("a second tree syncs the namespace: %v", kubetest.FirstLine(err))
	s.count("second tree")
	if s.began() != "" && !errors.Is(err, sync.ErrOtherTree) {
		s.fail("a second tree's sync was not refused: %v", err)
	}
	if after := s.members(); !maps(before, after) {
		s.fail("a second tree's refused sync wrote:\n%s", changed(before, after))
	}
}

// unlabeled takes modelsync's membership label off an object an approved
// plan prunes, by hand, and runs that prune: it must not report the object
// done (s.prune checks every approved deletion by uid). The label goes back
// on afterwards, as the operator would.
func (s *soak) unlabeled() {
	if len(s.approvals) == 0 {
		return
	}
	a := s.approvals[s.rng.IntN(len(s.approvals))]
	var targets []diff.Change
	for _, c := range a.plan.Removals() {
		if c.Action == diff.Prune && c.Kind == "Service" {
			targets = append(targets, c)
		}
	}
	if len(targets) == 0 {
		return
	}
	c := targets[s.rng.IntN(len(targets))]
	label := func(v any) error {
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%s}}}`, inventory.LabelPartOf, v)
		_, err := s.e.C.Core.CoreV1().Services(s.e.NS).Patch(s.t.Context(), c.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: "kubectl-label"})
		return err
	}
	svc, err := s.e.C.Core.CoreV1().Services(s.e.NS).Get(s.t.Context(), c.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && string(svc.UID) != c.UID) {
		return
	}
	if err != nil || label("null") != nil {
		s.t.Fatal(err)
	}
	s.logf("hand edit: label %s taken off Service %s", inventory.LabelPartOf, c.Name)
	s.count("label taken off")
	s.unlabeling = true
	s.prune(a, false)
	s.unlabeling = false
	if err := label(strconv.Quote(svc.Labels[inventory.LabelPartOf])); err != nil && !apierrors.IsNotFound(err) {
		s.t.Fatal(err)
	}
}

// holdBackend puts a finalizer on a random AIServiceBackend, as the AI
// Gateway's controller does: a prune leaves it terminating, and a revert's
// sync must write no rule to it. A later step, or the end of the schedule,
// lets go.
func (s *soak) holdBackend() {
	if len(s.held) > 0 && s.rng.IntN(2) == 0 {
		s.release()
		return
	}
	list, err := s.e.C.Dynamic.Resource(aiBackends).Namespace(s.e.NS).List(s.t.Context(), metav1.ListOptions{})
	if err != nil || len(list.Items) == 0 {
		return
	}
	u := list.Items[s.rng.IntN(len(list.Items))]
	if slices.Contains(s.held, u.GetName()) {
		return
	}
	patch := []byte(`{"metadata":{"finalizers":["` + soakFinalizer + `"]}}`)
	if _, err := s.e.C.Dynamic.Resource(aiBackends).Namespace(s.e.NS).Patch(s.t.Context(), u.GetName(), types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		s.t.Fatal(err)
	}
	s.held = append(s.held, u.GetName())
	s.logf("controller: finalizer on AIServiceBackend %s", u.GetName())
	s.count("finalizer held")
}

// release lets go of every finalizer held, and waits until the backends
// being deleted are gone.
func (s *soak) release() {
	for _, name := range s.held {
		_, err := s.e.C.Dynamic.Resource(aiBackends).Namespace(s.e.NS).Patch(s.t.Context(), name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			s.t.Fatal(err)
		}
		if err := wait.PollUntilContextTimeout(s.t.Context(), 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			u, err := s.e.C.Dynamic.Resource(aiBackends).Namespace(s.e.NS).Get(ctx, name, metav1.GetOptions{})
			return apierrors.IsNotFound(err) || (err == nil && u.GetDeletionTimestamp() == nil), nil
		}); err != nil {
			s.t.Fatalf("AIServiceBackend %s does not go once its finalizer is released", name)
		}
	}
	if len(s.held) > 0 {
		s.logf("controller: finalizers released on %s", strings.Join(s.held, ", "))
	}
	s.held = nil
}

var crds = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// withdrawn stops serving AIGatewayRoute v1alpha1 while an approved prune
// and the head's pipeline run, then serves it again. The head may have
// moved the routes to v1alpha1 and back (commit), so modelsync's fields can
// be recorded at the withdrawn version: no removal may be blocked by it.
func (s *soak) withdrawn() {
	head, _ := s.head()
	if routesVersion(head) != "v1beta1" {
		return
	}
	var at []approval
	for _, a := range s.approvals {
		if routesVersion(a.tree) == "v1beta1" {
			at = append(at, a)
		}
	}
	s.serveAlpha(false)
	s.logf("AIGatewayRoute v1alpha1 no longer served")
	s.count("version withdrawn")
	if len(at) > 0 {
		s.prune(at[s.rng.IntN(len(at))], false)
	}
	s.pipeline()
	s.serveAlpha(true)
	s.logf("AIGatewayRoute v1alpha1 served again")
}

func (s *soak) serveAlpha(served bool) {
	patch := fmt.Sprintf(`[{"op":"test","path":"/spec/versions/0/name","value":"v1alpha1"},{"op":"replace","path":"/spec/versions/0/served","value":%v}]`, served)
	if _, err := s.e.C.Dynamic.Resource(crds).Patch(s.t.Context(), "aigatewayroutes.aigateway.envoyproxy.io", types.JSONPatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		s.t.Fatal(err)
	}
	gv := schema.GroupVersion{Group: "aigateway.envoyproxy.io", Version: "v1alpha1"}
	if err := wait.PollUntilContextTimeout(s.t.Context(), 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := s.e.C.Core.Discovery().ServerResourcesForGroupVersion(gv.String())
		listed := err == nil && slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == "aigatewayroutes" })
		return listed == served, nil
	}); err != nil {
		s.t.Fatalf("discovery does not show AIGatewayRoute v1alpha1 served=%v", served)
	}
	var err error
	if s.e.C, err = cluster.New(s.cp.Config); err != nil { // the next job's clients, with fresh discovery
		s.t.Fatal(err)
	}
}

// routesVersion is the version tree writes its AIGatewayRoutes in.
func routesVersion(tree fstest.MapFS) string {
	if bytes.Contains(tree[routeFiles[0]].Data, []byte("aigateway.envoyproxy.io/v1alpha1")) {
		return "v1alpha1"
	}
	return "v1beta1"
}

// unfenced turns the fence policy's binding for the target away from its
// namespace, as a team that never bound it would run, and back: sync and
// prune must find the fence off (they warn, or refuse with
// --require-fence), and on again. The binding is changed in place, never
// deleted: kube-apiserver stops watching the policy's Leases while no
// binding exists and keeps reading a stale copy afterwards
// (kubernetes/kubernetes#130887; TestFenceRefusalWhileHeldNamesTheStaleLease).
func (s *soak) unfenced() {
	if !s.fenced {
		return
	}
	m := sync.NewManager(s.e.C, s.e.NS, inventory.DefaultName)
	_, binding := rbac.Fence(s.e.NS, inventory.DefaultName)
	adm := s.e.C.Core.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings()
	aim := func(ns string) {
		patch := fmt.Sprintf(`{"spec":{"matchResources":{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":%q}}}}}`, ns)
		if _, err := adm.Patch(s.t.Context(), binding.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			s.t.Fatal(err)
		}
	}
	aim("nowhere")
	s.logf("the fence policy's binding turned away from the namespace")
	s.count("fence off")
	s.fenceIs(m, false)
	aim(s.e.NS)
	s.fenceIs(m, true)
	s.logf("the fence policy's binding back")
}

func (s *soak) fenceIs(m *sync.Manager, on bool) {
	if err := wait.PollUntilContextTimeout(s.t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := m.FenceInForce(ctx)
		return err == nil && got == on, nil
	}); err != nil {
		s.fail("FenceInForce does not say %v within 30s of the binding's change", on)
	}
}

// scale is an autoscaler's or a person's write through the scale
// subresource: the HPA of the tree scales its StatefulSet (no sync may write
// the count back), or someone runs kubectl scale on another (the plan must
// call it a hand edit, not a change of the tree).
func (s *soak) scale() {
	head, _ := s.head()
	list, err := s.e.C.Core.AppsV1().StatefulSets(s.e.NS).List(s.t.Context(), metav1.ListOptions{})
	if err != nil || len(list.Items) == 0 {
		return
	}
	_, autoscaled := head[soakHPA]
	name := list.Items[s.rng.IntN(len(list.Items))].Name
	if autoscaled && s.rng.IntN(2) == 0 {
		name = soakScaled
	}
	n := int32(s.rng.IntN(3))
	sc, err := s.e.C.Core.AppsV1().StatefulSets(s.e.NS).GetScale(s.t.Context(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return
	} else if err != nil {
		s.t.Fatal(err)
	}
	sc.Spec.Replicas = n
	if _, err := s.e.C.Core.AppsV1().StatefulSets(s.e.NS).UpdateScale(s.t.Context(), name, sc, metav1.UpdateOptions{FieldManager: "kubectl"}); err != nil {
		s.t.Fatal(err)
	}
	if autoscaled && name == soakScaled {
		s.logf("autoscaler: StatefulSet %s scaled to %d", name, n)
		s.count("autoscaler scaled")
		s.scaledTo = n
		return
	}
	s.logf("hand edit: kubectl scale StatefulSet %s --replicas=%d", name, n)
	s.count("hand scale")
	res, _ := s.e.Plan(head)
	for _, c := range res.Plan.Changes {
		if c.Kind == "StatefulSet" && c.Name == name && c.Action == diff.Update && strings.Contains(c.Diff, "replicas") {
			s.fail("a hand scale of %s reads as a change of the tree: %s %q", name, c.Action, c.Message)
		}
	}
}

// checkAutoscaled: the autoscaler's count stands after a sync.
func (s *soak) checkAutoscaled() {
	head, _ := s.head()
	if _, ok := head[soakHPA]; !ok || s.scaledTo < 0 {
		return
	}
	sts, err := s.e.C.Core.AppsV1().StatefulSets(s.e.NS).Get(s.t.Context(), soakScaled, metav1.GetOptions{})
	if err == nil && *sts.Spec.Replicas != s.scaledTo {
		s.fail("a sync set the replicas of %s, which the tree's HPA scales, to %d; the autoscaler's count is %d", soakScaled, *sts.Spec.Replicas, s.scaledTo)
	}
}

// checkConfirmed: a prune that reported success deleted every object it
// approved; none with that uid is left undeleted.
func (s *soak) checkConfirmed(a approval) {
	for _, c := range a.plan.Removals() {
		if c.Action != diff.Prune || c.UID == "" {
			continue
		}
		gvk := schema.FromAPIVersionAndKind(c.APIVersion, c.Kind)
		res, err := s.e.C.Resource(gvk, s.e.NS)
		if err != nil {
			s.t.Fatal(err)
		}
		u, err := res.Get(s.t.Context(), c.Name, metav1.GetOptions{})
		if err == nil && string(u.GetUID()) == c.UID && u.GetDeletionTimestamp() == nil {
			s.fail("the prune of %s succeeded but %s %s (uid %s) is still there", a.plan.Revision, c.Kind, c.Name, c.UID)
		}
	}
}

// hpa is the tree's HorizontalPodAutoscaler for qwen3's StatefulSet.
func soakHPAFile() *fstest.MapFile { return hpa(soakScaled) }

func (s *soak) count(step string) { s.counts[step]++ }

// checkRoutes: after a step, every backendRef of every route names an
// AIServiceBackend that exists (the watch checks every moment; this names
// the step).
func (s *soak) checkRoutes(step string) {
	list, err := s.e.C.Dynamic.Resource(routes).Namespace(s.e.NS).List(s.t.Context(), metav1.ListOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	backends, err := s.e.C.Dynamic.Resource(aiBackends).Namespace(s.e.NS).List(s.t.Context(), metav1.ListOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	exists := map[string]bool{}
	for _, b := range backends.Items {
		exists[b.GetName()] = true
	}
	for _, r := range list.Items {
		for _, ref := range routeBackendRefs(&r) {
			if !exists[ref] {
				s.fail("after step %q, AIGatewayRoute %s points at AIServiceBackend %s, which does not exist", step, r.GetName(), ref)
			}
		}
	}
}

func routeBackendRefs(u *unstructured.Unstructured) []string {
	var out []string
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	for _, r := range rules {
		refs, _, _ := unstructured.NestedSlice(r.(map[string]any), "backendRefs")
		for _, ref := range refs {
			if name, ok := ref.(map[string]any)["name"].(string); ok {
				out = append(out, name)
			}
		}
	}
	return out
}
