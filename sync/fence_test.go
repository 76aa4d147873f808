package sync_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/rbac"
	"modelsync.dev/modelsync/sync"
)

// installFence installs the fence policy and the binding for e's target, as
// `modelsync rbac` prints them, and waits until the API server enforces it.
func (e *env) installFence() {
	e.T.Helper()
	ctx := e.T.Context()
	policy, binding := rbac.Fence(e.NS, inventory.DefaultName)
	adm := e.C.Core.AdmissionregistrationV1()
	if _, err := adm.ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		e.T.Fatal(err)
	}
	if _, err := adm.ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		e.T.Fatal(err)
	}
	e.T.Cleanup(func() {
		_ = adm.ValidatingAdmissionPolicyBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
	})
	// Enforced once a token of a transition the Lease is not at is refused.
	leases := e.C.Core.CoordinationV1().Leases(e.NS)
	if _, err := sync.NewManager(e.C, e.NS, inventory.DefaultName).AcquireLease(ctx, sync.LeaseOptions{Identity: "probe", Wait: time.Second, Duration: time.Second}); err != nil {
		e.T.Fatal(err)
	}
	probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "fence-probe", Annotations: map[string]string{inventory.AnnotationFence: inventory.LeaseName(inventory.DefaultName) + ":999/1"}}}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := e.C.Core.CoreV1().ConfigMaps(e.NS).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "modelsync fence"), nil
	})
	if err != nil {
		e.T.Fatalf("the fence policy is not enforced after 30s: %v", err)
	}
	_ = leases.Delete(ctx, inventory.LeaseName(inventory.DefaultName), metav1.DeleteOptions{})
}

// pausing freezes its run once, just after the Hold of its n-th write
// cleared that write to go, until the test resumes it: SIGSTOP, a frozen VM
// or a GC pause placed exactly where it hurts.
type pausing struct {
	sync.Fence
	n              int32
	holds          atomic.Int32
	paused, resume chan struct{}
}

func pauseAt(f sync.Fence, n int32) *pausing {
	return &pausing{Fence: f, n: n, paused: make(chan struct{}), resume: make(chan struct{})}
}

func (p *pausing) Hold(ctx context.Context) error {
	if err := p.Fence.Hold(ctx); err != nil {
		return err
	}
	if p.holds.Add(1) == p.n {
		close(p.paused)
		<-p.resume
	}
	return nil
}

// lease takes the target's Lease for a run that renews it only when it
// writes, so that a pause lets it expire.
func (e *env) lease(identity string, d time.Duration) *sync.Lease {
	e.T.Helper()
	l, err := sync.NewManager(e.C, e.NS, inventory.DefaultName).AcquireLease(e.T.Context(), sync.LeaseOptions{Identity: identity, Wait: 30 * time.Second, Duration: d})
	if err != nil {
		e.T.Fatal(err)
	}
	return l
}

// overtake runs fn as another run that takes the Lease once the paused
// one's term is over, and releases it at the end.
func (e *env) overtake(fn func(sync.Fence)) {
	e.T.Helper()
	opts := sync.LeaseOptions{Identity: "run-b", Wait: 30 * time.Second, Duration: 15 * time.Second}
	if err := sync.NewManager(e.C, e.NS, inventory.DefaultName).WithLease(e.T.Context(), opts, sync.NoProgress{}, func(_ context.Context, l *sync.Lease) error {
		fn(l)
		return nil
	}); err != nil {
		e.T.Fatal(err)
	}
}

func settings(value string) fstest.MapFS {
	return fstest.MapFS{
		"models-config/settings.yaml": &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  value: " + value + "\n")},
		"models-config/limits.yaml":   &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: limits\ndata:\n  k: v\n")},
	}
}

func (e *env) configMap(name string) *corev1.ConfigMap {
	e.T.Helper()
	cm, err := e.C.Core.CoreV1().ConfigMaps(e.NS).Get(e.T.Context(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		e.T.Fatal(err)
	}
	return cm
}

// The fence holds on the server: a sync paused after its Lease cleared a
// write, whose Lease another run took and used meanwhile, sends that write
// on resuming and the API server refuses it; the newer run's state stays.
func TestFenceRefusesAResumedSync(t *testing.T) {
	e := newEnv(t)
	e.installFence()
	e.sync(settings("old"), sync.DefaultOptions())

	paused := pauseAt(e.lease("run-a", time.Second), 1)
	opts := sync.DefaultOptions()
	opts.Fence, opts.Concurrency = paused, 1
	done := make(chan error)
	go func() { _, _, err := e.trySync(t.Context(), settings("from-a"), opts); done <- err }()
	<-paused.paused
	e.overtake(func(f sync.Fence) {
		o := sync.DefaultOptions()
		o.Fence = f
		e.sync(settings("from-b"), o)
	})
	close(paused.resume)
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "modelsync fence") {
		t.Fatalf("resumed sync: err = %v, want the fence policy's refusal", err)
	}
	if got := e.configMap("settings").Data["value"]; got != "from-b" {
		t.Errorf("settings after the resumed sync = %q, want the newer run's %q", got, "from-b")
	}
	if got := e.configMap("settings").Annotations[inventory.AnnotationFence]; !strings.HasPrefix(got, inventory.LeaseName(inventory.DefaultName)+":") {
		t.Errorf("settings carries fence %q, want the newer run's token", got)
	}
}

// A prune paused after its Lease cleared a deletion, while another run took
// the Lease and re-declared the object with nothing to write to it (so the
// uid and resourceVersion preconditions still hold), deletes nothing on
// resuming.
func TestFenceRefusesAResumedPrune(t *testing.T) {
	e := newEnv(t)
	e.installFence()
	both := settings("v")
	e.commit(both, "base")
	fewer := fstest.MapFS{"models-config/settings.yaml": both["models-config/settings.yaml"]}
	approved := e.commit(fewer, "a")

	paused := pauseAt(e.lease("run-a", time.Second), 1)
	opts := sync.DefaultPruneOptions()
	opts.Fence = paused
	done := make(chan error)
	go func() {
		rep, _, err := e.prune(fewer, approved, opts)
		for _, p := range rep.Pruned {
			err = errors.Join(err, p.Err)
		}
		done <- err
	}()
	<-paused.paused
	before := e.configMap("limits").ResourceVersion
	e.overtake(func(f sync.Fence) {
		res, _ := e.Plan(both)
		o := sync.DefaultOptions()
		o.Fence = f
		rep, err := sync.NewManager(e.C, e.NS, inventory.DefaultName).Apply(t.Context(), res, "b", o, sync.NoProgress{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Applied) != 0 {
			t.Fatalf("the newer sync wrote %d objects; this test needs one with nothing to write to limits", len(rep.Applied))
		}
	})
	if rv := e.configMap("limits").ResourceVersion; rv != before {
		t.Fatalf("limits changed under the newer sync (%s → %s); the test needs its preconditions to still hold", before, rv)
	}
	close(paused.resume)
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "modelsync fence") {
		t.Fatalf("resumed prune: err = %v, want the fence policy's refusal", err)
	}
	if e.configMap("limits").Name == "" {
		t.Fatal("the resumed prune deleted limits, which the default branch's head declares")
	}
}

// The window between a prune's mark and its delete: the delete of an
// object marked by a run whose Lease another run has taken since is refused;
// deletes of unmarked objects (a person's kubectl delete) and writes that
// leave the tokens alone (kubectl edit) pass.
func TestFenceRefusesADeleteMarkedByALostLease(t *testing.T) {
	e := newEnv(t)
	e.installFence()
	ctx := t.Context()
	cms := e.C.Core.CoreV1().ConfigMaps(e.NS)
	for _, n := range []string{"marked", "unmarked"} {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	a := e.lease("run-a", time.Second)
	mark := `{"metadata":{"annotations":{"` + inventory.AnnotationDeleting + `":"` + a.Token() + `"}}}`
	if _, err := cms.Patch(ctx, "marked", types.MergePatchType, []byte(mark), metav1.PatchOptions{}); err != nil {
		t.Fatalf("mark with the current fence: %v", err)
	}
	time.Sleep(1100 * time.Millisecond)
	e.lease("run-b", 15*time.Second) // takes the expired Lease: a new transition

	if _, err := cms.Patch(ctx, "marked", types.MergePatchType, []byte(`{"data":{"edited":"by hand"}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("a hand edit that leaves the mark alone: %v", err)
	}
	err := cms.Delete(ctx, "marked", metav1.DeleteOptions{})
	if err == nil || !strings.Contains(err.Error(), "lost Lease") {
		t.Errorf("delete of an object marked by the lost run: %v, want the fence's refusal", err)
	}
	if _, err := cms.Patch(ctx, "unmarked", types.MergePatchType, []byte(mark), metav1.PatchOptions{}); err == nil {
		t.Error("a mark with the lost run's token was accepted")
	}
	if err := cms.Delete(ctx, "unmarked", metav1.DeleteOptions{}); err != nil {
		t.Errorf("delete of an unmarked object: %v", err)
	}
	if e.configMap("marked").Name == "" {
		t.Fatal("the marked object is gone")
	}
}

// heldAlready is a run paused just after its Hold passed: whatever it
// sends next, the API server's fence policy is what stops it.
type heldAlready struct{ sync.Fence }

func (heldAlready) Hold(context.Context) error { return nil }

// A surge copy is deleted as prune deletes: a run that lost its Lease while
// the copy loaded (paused past its Hold) deletes no copy, since the run that
// took the Lease may be continuing the same surge with it; the run that
// holds the Lease deletes it.
func TestFenceKeepsASurgeCopyFromALostLease(t *testing.T) {
	e := newEnv(t)
	e.installFence()
	ctx := t.Context()
	labels := map[string]string{"app": "m-surge"}
	copy := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "m-surge", Annotations: map[string]string{inventory.LabelSurgeOf: "m"}},
		Spec: appsv1.StatefulSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "vllm", Image: "vllm/vllm-openai:next"}}}}}}
	if _, err := e.C.Core.AppsV1().StatefulSets(e.NS).Create(ctx, copy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("apps/v1")
	u.SetKind("StatefulSet")
	u.SetNamespace(e.NS)
	u.SetName("m-surge")
	m := sync.NewManager(e.C, e.NS, inventory.DefaultName)

	a := e.lease("run-a", time.Second)
	time.Sleep(1100 * time.Millisecond)
	b := e.lease("run-b", 15*time.Second) // takes the expired Lease: a new transition
	err := m.DeleteCopy(ctx, u, heldAlready{a})
	if err == nil || !strings.Contains(err.Error(), inventory.FenceRefusal) {
		t.Errorf("the lost run's delete of the copy: %v, want the fence's refusal", err)
	}
	got, err := e.C.Core.AppsV1().StatefulSets(e.NS).Get(ctx, "m-surge", metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp != nil {
		t.Fatalf("the copy after the lost run's delete: %v (deleting: %v)", err, got != nil && got.DeletionTimestamp != nil)
	}
	if err := m.DeleteCopy(ctx, u, b); err != nil {
		t.Errorf("the Lease holder's delete of the copy: %v", err)
	}
	if got, err := e.C.Core.AppsV1().StatefulSets(e.NS).Get(ctx, "m-surge", metav1.GetOptions{}); err == nil && got.DeletionTimestamp == nil {
		t.Error("the copy stays after the Lease holder's delete")
	}
}

// BenchmarkFence measures what the fence policy costs one write: the same
// server-side apply of a ConfigMap, in a namespace without the policy's
// binding and unfenced, and in one with it, carrying a token.
func BenchmarkFence(b *testing.B) {
	for _, fenced := range []bool{false, true} {
		b.Run(map[bool]string{false: "unfenced", true: "fenced"}[fenced], func(b *testing.B) {
			e := &env{kubetest.NewEnv(b)}
			var fence sync.Fence = sync.Unfenced{}
			if fenced {
				e.installFence()
				fence = e.lease("bench", time.Minute)
			}
			cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "bench", "namespace": e.NS}}}
			b.ResetTimer()
			for i := range b.N {
				u := cm.DeepCopy()
				_ = unstructured.SetNestedField(u.Object, strconv.Itoa(i), "data", "i")
				if token := fence.Token(); token != "" {
					u.SetAnnotations(map[string]string{inventory.AnnotationFence: token})
				}
				if _, err := e.C.Apply(b.Context(), u, cluster.ApplyOptions{FieldManager: inventory.FieldManager, Force: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A fence refusal of a run that still holds its Lease is not reported as a
// lost Lease. kube-apiserver stops watching the policy's parameters (Leases,
// a built-in kind) once no binding uses them for a moment, and keeps the
// copies it had (kubernetes/kubernetes#130887): a binding deleted and
// created again, with the Lease replaced meanwhile (its namespace
// recreated), leaves the policy reading the old Lease. The run then names
// that cause and what to do, instead of "another run took the Lease".
func TestFenceRefusalWhileHeldNamesTheStaleLease(t *testing.T) {
	cp := kubetest.PrivateControlPlane(t) // the fault outlives the test: it lasts until the API server restarts
	e := privateEnv(t, cp, "fenced")
	e.installFence()
	m := sync.NewManager(e.C, e.NS, inventory.DefaultName)
	syncAs := func(identity, value string) error {
		opts := sync.LeaseOptions{Identity: identity, Wait: 30 * time.Second, Duration: 15 * time.Second}
		return m.WithLease(t.Context(), opts, sync.NoProgress{}, func(ctx context.Context, l *sync.Lease) error {
			o := sync.DefaultOptions()
			o.Fence = l
			_, _, err := e.trySync(ctx, settings(value), o)
			return err
		})
	}
	for i, run := range []string{"run-a", "run-b"} { // the Lease at its second transition
		if err := syncAs(run, "v"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	policy, binding := rbac.Fence(e.NS, inventory.DefaultName)
	adm := e.C.Core.AdmissionregistrationV1()
	if err := adm.ValidatingAdmissionPolicyBindings().Delete(t.Context(), binding.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // past the policy source's refresh (1 s) with no binding
	if err := e.C.Core.CoordinationV1().Leases(e.NS).Delete(t.Context(), inventory.LeaseName(inventory.DefaultName), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.ValidatingAdmissionPolicyBindings().Create(t.Context(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "fence-probe", Annotations: map[string]string{inventory.AnnotationFence: inventory.LeaseName(inventory.DefaultName) + ":999/1"}}}
	if err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := e.C.Core.CoreV1().ConfigMaps(e.NS).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), inventory.FenceRefusal), nil
	}); err != nil {
		t.Fatalf("policy %s is not enforced again after 30s: %v", policy.Name, err)
	}

	err := syncAs("run-c", "new")
	t.Logf("the error a user sees: %v", err)
	switch {
	case err == nil:
		t.Log("the API server read the Lease as it is: nothing to explain (kubernetes/kubernetes#130887 fixed)")
	case errors.Is(err, sync.ErrLeaseLost):
		t.Fatalf("a run that held its Lease throughout reports it lost: %v", err)
	case !errors.Is(err, sync.ErrStaleFence) || !strings.Contains(err.Error(), "restart kube-apiserver") || !strings.Contains(err.Error(), "kubernetes/kubernetes#130887"):
		t.Fatalf("the fence's refusal of a run holding its Lease does not name the stale Lease and the remedy: %v", err)
	}
}
