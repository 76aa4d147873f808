package sync_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"modelsync.dev/modelsync/report"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/internal/controlplane"
	"modelsync.dev/modelsync/internal/testing/gitlabtest"
	"modelsync.dev/modelsync/internal/testing/kubetest"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/sync"
	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/manifest"
)

// TestSoak checks the promises of docs/how-it-decides.md over seeded random schedules, in the
// spirit of Jepsen and of simulation testing, against the real API server:
// commits that add, change, remove and revert Models and change a Secret;
// default-branch pipelines that plan and sync; approvals run late, out of
// order and twice; runs frozen after their Lease cleared a write while
// another run takes the Lease; runs killed half-way; controllers writing
// status; hand edits; and GitLab's own world (soak_steps_test.go): retried
// old sync and diff jobs, a second tree, labels taken off by hand,
// finalizers, a withdrawn API version, the fence's binding removed, an
// autoscaler and hand scales. After every step it checks:
//
//   - nothing the default branch's head wants is deleted, and nothing is
//     deleted that the approved plan being run did not list;
//   - a run that lost its Lease writes nothing after the run that took it;
//   - no route points at a missing backend or pool at any moment (a watch,
//     replayed in etcd's order);
//   - no Secret value appears in any plan (text, markdown, JSON) or error;
//
// and after the schedule, that one sync and one approved prune of the head
// converge to a clean plan. A failing seed prints its schedule; rerun it with
// MODELSYNC_SOAK_SEED=<seed>. MODELSYNC_SOAK_SEEDS (default 3) and
// MODELSYNC_SOAK_STEPS (default 12) make it longer: `make soak`.
// MODELSYNC_SOAK_NOFENCE=1 leaves the fence policy out, to see what the
// invariants catch without it (seed 3: a frozen prune writes the route).
func TestSoak(t *testing.T) {
	seeds, steps := kubetest.Schedule("MODELSYNC_SOAK", 3, 12)
	start := time.Now()
	cp := kubetest.PrivateControlPlane(t) // the schedules restart its API server
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runSoak(t, cp, seed, steps) })
	}
	t.Logf("soak: %d seeds of %d steps in %s", len(seeds), steps, time.Since(start).Round(time.Second))
}

type soak struct {
	e       *env
	t       *testing.T
	cp      *controlplane.ControlPlane
	watch   *kubetest.RefWatch
	rng     *rand.Rand
	canary  string
	commits []fstest.MapFS // revision "r<i>" is commits[i]; the last is the head
	// approvals are the plans of the default branch's pipelines that await
	// (or already had) their manual prune, with the tree of their commit.
	approvals []approval
	schedule  []string
	gitlab    *gitlabtest.Server // the merge request's notes
	fenced    bool               // the fence policy is installed
	held      []string           // AIServiceBackends a finalizer holds
	scaledTo  int32              // the count the tree's HPA last set; -1 none
	counts    map[string]int     // steps run, by kind
	// unlabeling: a person took a member's label off for this prune.
	unlabeling bool
}

type approval struct {
	plan *diff.Plan
	tree fstest.MapFS
}

func (s *soak) head() (fstest.MapFS, string) {
	return s.commits[len(s.commits)-1], "r" + strconv.Itoa(len(s.commits)-1)
}

func (s *soak) logf(format string, args ...any) {
	s.schedule = append(s.schedule, fmt.Sprintf(format, args...))
}

func (s *soak) fail(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("%s\nschedule (seed reproduces it):\n  %s", fmt.Sprintf(format, args...), strings.Join(s.schedule, "\n  "))
}

const soakSecret = "models-config/hf-token.yaml"

func runSoak(t *testing.T, cp *controlplane.ControlPlane, seed uint64, steps int) {
	e := privateEnv(t, cp, fmt.Sprintf("soak-%d", seed))
	s := &soak{e: e, t: t, cp: cp, rng: rand.New(rand.NewPCG(seed, 0x50a1c)), canary: fmt.Sprintf("s0ak-canary-%d", seed),
		gitlab: gitlabtest.New(t, "glpat-soak", "42", 7), scaledTo: -1, counts: map[string]int{}}
	if os.Getenv("MODELSYNC_SOAK_NOFENCE") == "" {
		e.installFence()
		s.fenced = true
	}
	base := kubetest.RepoTree(t)
	base[soakSecret] = s.secret(0)
	s.commits = []fstest.MapFS{base}
	w := kubetest.WatchReferencesAt(t, cp.Config, e.NS)
	s.watch = w
	s.pipeline()
	for range steps {
		switch op := s.rng.IntN(16); op {
		case 7:
			s.commit()
			s.restarted()
		case 0, 1:
			s.commit()
			s.pipeline()
		case 2:
			s.approve()
		case 3:
			s.commit()
			s.frozen()
		case 4:
			s.killed()
		case 5:
			s.statusChurn()
		case 6:
			s.handEdit()
		case 8:
			s.retriedSync()
		case 9:
			s.retriedDiff()
		case 10:
			s.secondTree()
		case 11:
			s.unlabeled()
		case 12:
			s.holdBackend()
		case 13:
			s.withdrawn()
		case 14:
			s.unfenced()
		case 15:
			s.scale()
		}
		s.checkRoutes(s.schedule[len(s.schedule)-1])
	}
	// Convergence: the controllers let go; the head's pipeline and its
	// approved prune.
	s.release()
	s.pipeline()
	if a := s.approvals[len(s.approvals)-1]; len(a.plan.Removals()) > 0 {
		s.prune(a, true)
	}
	head, _ := s.head()
	if res, _ := e.Plan(head); res.Plan.HasChanges() {
		var left []string
		for _, c := range res.Plan.Changes {
			if c.Action != diff.Unchanged {
				left = append(left, string(c.Action)+" "+c.ID().String())
			}
		}
		s.fail("the head does not converge after its sync and approved prune: %s", strings.Join(left, ", "))
	}
	if dangling := w.Stop(); len(dangling) > 0 {
		s.fail("a route pointed at a missing object:\n%s", strings.Join(dangling, "\n"))
	}
	t.Logf("schedule:\n  %s", strings.Join(s.schedule, "\n  "))
	var kinds []string
	for k, n := range s.counts {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	slices.Sort(kinds)
	t.Logf("soak: seed %d: %d steps (%s); violations: 0", seed, steps, strings.Join(kinds, ", "))
}

func (s *soak) secret(version int) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: hf-token\nstringData:\n  token: %s-v%d\n", s.canary, version))}
}

// commit makes the next revision of the default branch from the head.
func (s *soak) commit() {
	head, _ := s.head()
	next := fstest.MapFS{}
	for k, v := range head {
		next[k] = v
	}
	base := s.commits[0]
	var models, gone []string
	for k := range base {
		// qwen3-combined names qwen3 and qwen3-nairr: removing one of them
		// alone is a tree error.
		if strings.HasPrefix(k, "models-config/models/") && !strings.HasPrefix(k, "models-config/models/qwen3.yaml") && k != "models-config/models/qwen3-nairr.yaml" {
			if _, ok := head[k]; ok {
				models = append(models, k)
			} else {
				gone = append(gone, k)
			}
		}
	}
	slices.Sort(models)
	slices.Sort(gone)
	switch k := s.rng.IntN(6); {
	case k == 0 && len(models) > 4:
		m := models[s.rng.IntN(len(models))]
		delete(next, m)
		s.logf("commit r%d: remove %s", len(s.commits), m)
	case k == 1 && len(gone) > 0:
		m := gone[s.rng.IntN(len(gone))]
		next[m] = base[m]
		s.logf("commit r%d: add %s back", len(s.commits), m)
	case k == 2:
		m := models[s.rng.IntN(len(models))]
		next[m] = &fstest.MapFile{Data: []byte(strings.Replace(string(next[m].Data), "ownedBy: ", "ownedBy: x", 1))}
		next[soakSecret] = s.secret(len(s.commits))
		s.logf("commit r%d: change the owner of %s and the Secret's value", len(s.commits), m)
	case k == 4:
		if _, ok := next[soakHPA]; ok {
			delete(next, soakHPA)
			s.logf("commit r%d: remove the HPA of %s", len(s.commits), soakScaled)
		} else {
			next[soakHPA] = soakHPAFile()
			s.logf("commit r%d: add an HPA for %s", len(s.commits), soakScaled)
		}
	case k == 5:
		to := map[string]string{"v1beta1": "v1alpha1", "v1alpha1": "v1beta1"}[routesVersion(next)]
		for _, name := range routeFiles {
			next[name] = &fstest.MapFile{Data: []byte(strings.Replace(string(next[name].Data), "aigateway.envoyproxy.io/"+routesVersion(next), "aigateway.envoyproxy.io/"+to, 1))}
		}
		s.logf("commit r%d: AIGatewayRoutes written as %s", len(s.commits), to)
	default:
		i := s.rng.IntN(len(s.commits))
		next = s.commits[i]
		s.logf("commit r%d: revert to r%d", len(s.commits), i)
	}
	if _, had := head[soakHPA]; had != (next[soakHPA] != nil) {
		s.scaledTo = -1 // a sync sets the tree's count, or hands it over
	}
	s.commits = append(s.commits, next)
}

// members is the set's live objects as "Kind name" → uid/resourceVersion.
func (s *soak) members() map[string]string {
	out := map[string]string{}
	for _, gvr := range allKinds {
		list, err := s.e.C.Dynamic.Resource(gvr).Namespace(s.e.NS).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			s.t.Fatal(err)
		}
		for _, u := range list.Items {
			out[u.GetKind()+" "+u.GetName()] = string(u.GetUID()) + "/" + u.GetResourceVersion()
		}
	}
	return out
}

// wanted is what the head declares, as "Kind name".
func (s *soak) wanted() map[string]bool {
	head, _ := s.head()
	set, err := desired.Load(context.Background(), manifest.Tree{FS: head, Root: "models-config"}, desired.Options{Namespace: s.e.NS})
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]bool{}
	for _, o := range set.Objects {
		out[o.GetKind()+" "+o.GetName()] = true
	}
	return out
}

// noSecretIn checks a plan's every rendering and an error for the canary.
func (s *soak) noSecretIn(p *diff.Plan, err error) {
	s.t.Helper()
	var b bytes.Buffer
	if p != nil {
		_ = report.WriteText(&b, p)
		_ = report.WriteMarkdown(&b, p, report.MarkdownOptions{})
		_ = p.WriteJSON(&b)
	}
	if err != nil {
		b.WriteString(err.Error())
	}
	if strings.Contains(b.String(), s.canary) {
		s.fail("a Secret value is in a plan or an error")
	}
}

// pipeline is the head's default-branch pipeline: plan, then sync under
// the Lease; its plan awaits the manual prune.
func (s *soak) pipeline() {
	head, rev := s.head()
	res, _ := s.e.Plan(head)
	res.Plan.Revision = rev
	s.noSecretIn(res.Plan, nil)
	s.gitlab.Head = rev
	if err := s.note(rev, res.Plan); err != nil {
		s.t.Fatal(err)
	}
	err := s.withLease("pipeline "+rev, func(f sync.Fence) error {
		_, err := sync.NewManager(s.e.C, s.e.NS, inventory.DefaultName).Apply(s.t.Context(), res, rev, s.syncOptions(f), sync.NoProgress{})
		return err
	})
	s.noSecretIn(nil, err)
	s.logf("pipeline %s: sync: %v", rev, kubetest.FirstLine(err))
	if err != nil && !(errors.Is(err, sync.ErrHeldBack) && len(s.held) > 0) {
		s.fail("sync of the head %s: %v", rev, err)
	}
	s.checkAutoscaled()
	s.approvals = append(s.approvals, approval{plan: approve(s.t, res.Plan), tree: head})
}

func (s *soak) withLease(who string, fn func(sync.Fence) error) error {
	opts := sync.LeaseOptions{Identity: who, Wait: 30 * time.Second, Duration: 15 * time.Second}
	return sync.NewManager(s.e.C, s.e.NS, inventory.DefaultName).WithLease(s.t.Context(), opts, sync.NoProgress{}, func(_ context.Context, l *sync.Lease) error {
		return fn(l)
	})
}

// approve runs the manual prune of a random pipeline's plan: late, out of
// order, or a second time.
func (s *soak) approve() {
	if len(s.approvals) == 0 {
		return
	}
	s.prune(s.approvals[s.rng.IntN(len(s.approvals))], false)
}

func (s *soak) prune(a approval, must bool) {
	before, wanted := s.members(), s.wanted()
	listed := map[string]bool{}
	for _, c := range a.plan.Removals() {
		listed[c.Kind+" "+c.Name] = true
	}
	err := s.withLease("prune "+a.plan.Revision, func(f sync.Fence) error {
		o := sync.DefaultPruneOptions()
		o.Fence, o.AllowMass, o.Terminating = f, must, 2*time.Second
		res, _ := s.e.Plan(a.tree)
		_, err := sync.NewManager(s.e.C, s.e.NS, inventory.DefaultName).Prune(s.t.Context(), a.plan, res, o, sync.NoProgress{})
		return err
	})
	s.noSecretIn(nil, err)
	s.logf("approve the prune of %s: %v", a.plan.Revision, kubetest.FirstLine(err))
	// Refusals are expected of stale and mass plans; an incomplete prune
	// of objects a finalizer holds, or whose label a person took off.
	expected := errors.Is(err, sync.ErrStalePlan) || errors.Is(err, sync.ErrMassPrune) || errors.Is(err, sync.ErrPartial) && (len(s.held) > 0 || s.unlabeling)
	if err != nil && (must || !expected) {
		s.fail("prune of %s: %v", a.plan.Revision, err)
	}
	if err == nil {
		s.checkConfirmed(a)
	}
	s.checkDeletions(before, wanted, listed)
}

// checkDeletions: every object gone since before was listed by the approved
// plan, and none is one the head wants (a replacement comes back).
func (s *soak) checkDeletions(before map[string]string, wanted, listed map[string]bool) {
	s.t.Helper()
	after := s.members()
	for id := range before {
		if _, ok := after[id]; ok {
			continue
		}
		if wanted[id] {
			s.fail("%s was deleted although the head (%d) wants it", id, len(s.commits)-1)
		}
		if !listed[id] {
			s.fail("%s was deleted although the approved plan did not list it", id)
		}
	}
}

// frozen runs the head's sync, or a random approved prune, frozen right
// after its Lease cleared its first write; another pipeline takes the Lease
// and syncs a newer commit meanwhile. On resuming, the frozen run must write
// nothing.
func (s *soak) frozen() {
	head, rev := s.head()
	lease, err := sync.NewManager(s.e.C, s.e.NS, inventory.DefaultName).AcquireLease(s.t.Context(), sync.LeaseOptions{Identity: "frozen", Wait: 30 * time.Second, Duration: time.Second})
	if err != nil {
		s.t.Fatal(err)
	}
	paused := pauseAt(lease, 1)
	done := make(chan error, 1)
	pruning := len(s.approvals) > 0 && s.rng.IntN(2) == 0
	what := "sync of " + rev
	if pruning {
		a := s.approvals[s.rng.IntN(len(s.approvals))]
		what = "prune of " + a.plan.Revision
		go func() {
			o := sync.DefaultPruneOptions()
			o.Fence, o.Concurrency = paused, 1
			res, _ := s.e.Plan(a.tree)
			rep, err := sync.NewManager(s.e.C, s.e.NS, inventory.DefaultName).Prune(context.Background(), a.plan, res, o, sync.NoProgress{})
			for _, p := range rep.Pruned {
				err = errors.Join(err, p.Err)
			}
			done <- err
		}()
	} else {
		res, _ := s.e.Plan(head)
		go func() {
			o := s.syncOptions(paused)
			o.Concurrency = 1
			_, err := sync.NewManager(s.e.C, s.e.NS, inventory.DefaultName).Apply(context.Background(), res, rev, o, sync.NoProgress{})
			done <- err
		}()
	}
	select {
	case err := <-done:
		s.logf("frozen %s: had nothing to write (%v)", what, kubetest.FirstLine(err))
		return
	case <-paused.paused:
	}
	s.logf("frozen %s after its first write was cleared; another pipeline overtakes", what)
	s.commit()
	s.pipeline()
	settled := s.members()
	close(paused.resume)
	err = <-done
	s.noSecretIn(nil, err)
	s.logf("frozen %s resumed: %v", what, kubetest.FirstLine(err))
	if after := s.members(); !maps(settled, after) {
		s.fail("the frozen %s wrote after another run took its Lease:\n%s", what, changed(settled, after))
	}
}

// restarted runs the head's sync and stops the API server after a random
// number of its writes (etcd keeps the data); the API server comes back with
// new certificates, and the clients and the watch reconnect.
func (s *soak) restarted() {
	head, rev := s.head()
	res, _ := s.e.Plan(head)
	lease, err := sync.NewManager(s.e.C, s.e.NS, inventory.DefaultName).AcquireLease(s.t.Context(), sync.LeaseOptions{Identity: "cut off", Wait: 30 * time.Second, Duration: time.Second})
	if err != nil {
		s.t.Fatal(err)
	}
	stopper := &stopAfter{n: 1 + s.rng.IntN(2), stop: func() error {
		s.watch.Disconnect() // the API server's shutdown waits for open watches
		return s.cp.StopAPIServer()
	}}
	o := s.syncOptions(lease)
	o.Concurrency = 1
	_, err = sync.NewManager(s.e.C, s.e.NS, inventory.DefaultName).Apply(s.t.Context(), res, rev, o, stopper)
	s.noSecretIn(nil, err)
	if !stopper.stopped {
		s.logf("sync of %s ran through before its API server stop at write %d: %v", rev, stopper.n, kubetest.FirstLine(err))
		return
	}
	s.logf("API server stopped after %d writes of the sync of %s: %v", stopper.applied, rev, kubetest.FirstLine(err))
	if stopper.err != nil {
		s.t.Fatal(stopper.err)
	}
	cfg, err := s.cp.StartAPIServer()
	if err != nil {
		s.t.Fatal(err)
	}
	if s.e.C, err = cluster.New(cfg); err != nil {
		s.t.Fatal(err)
	}
	s.watch.Reconnect(s.t, cfg)
}

// killed runs the head's sync and kills it at a random write: the Lease is
// left to expire, nothing released.
func (s *soak) killed() {
	head, rev := s.head()
	lease, err := sync.NewManager(s.e.C, s.e.NS, inventory.DefaultName).AcquireLease(s.t.Context(), sync.LeaseOptions{Identity: "killed", Wait: 30 * time.Second, Duration: time.Second})
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, kill := context.WithCancel(s.t.Context())
	k := killAt{Fence: lease, n: int32(1 + s.rng.IntN(6)), kill: kill}
	res, _ := s.e.Plan(head)
	o := s.syncOptions(&k)
	o.Concurrency = 1
	_, err = sync.NewManager(s.e.C, s.e.NS, inventory.DefaultName).Apply(ctx, res, rev, o, sync.NoProgress{})
	s.logf("sync of %s killed at write %d: %v", rev, k.n, kubetest.FirstLine(err))
}

type killAt struct {
	sync.Fence
	n, holds int32
	kill     context.CancelFunc
}

func (k *killAt) Hold(ctx context.Context) error {
	if k.holds++; k.holds == k.n {
		k.kill()
		return context.Canceled
	}
	return k.Fence.Hold(ctx)
}

// statusChurn is the controllers: a route accepted, a StatefulSet's status.
func (s *soak) statusChurn() {
	list, err := s.e.C.Dynamic.Resource(statefulSet).Namespace(s.e.NS).List(s.t.Context(), metav1.ListOptions{})
	if err != nil || len(list.Items) == 0 {
		return
	}
	u := list.Items[s.rng.IntN(len(list.Items))]
	patch := fmt.Sprintf(`{"status":{"observedGeneration":%d,"replicas":1,"readyReplicas":1,"availableReplicas":1,"currentReplicas":1,"updatedReplicas":1}}`, u.GetGeneration())
	if _, err := s.e.C.Dynamic.Resource(statefulSet).Namespace(s.e.NS).Patch(s.t.Context(), u.GetName(), types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: "kube-controller-manager"}, "status"); err != nil {
		s.t.Fatal(err)
	}
	s.logf("controller: status of StatefulSet %s", u.GetName())
}

// handEdit is a person's kubectl edit of a managed Service: a label.
func (s *soak) handEdit() {
	list, err := s.e.C.Dynamic.Resource(services).Namespace(s.e.NS).List(s.t.Context(), metav1.ListOptions{})
	if err != nil || len(list.Items) == 0 {
		return
	}
	u := list.Items[s.rng.IntN(len(list.Items))]
	patch := `{"metadata":{"labels":{"edited-at-3am":"true"}}}`
	if _, err := s.e.C.Dynamic.Resource(services).Namespace(s.e.NS).Patch(s.t.Context(), u.GetName(), types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		s.t.Fatal(err)
	}
	s.logf("hand edit: label on Service %s", u.GetName())
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func changed(a, b map[string]string) string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, k+": "+v+" → "+b[k])
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k+": created "+v)
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}
