package diff

import (
	"context"
	"fmt"
	"sort"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
)

// Options configures a Differ.
type Options struct {
	// Inventory is the ApplySet parent Secret's name.
	Inventory string
	// Concurrency bounds the dry-run requests in flight. The default, 64,
	// is where the API server dry-ran a 4,080-object tree fastest of 4, 8,
	// 16, 32 and 64 at once in three of four runs of BenchmarkProcess's
	// floor on two cores, and within 1 % of the fastest (32) in the fourth
	// (8.6 s at 64 against 9.0 s at 32 and 10.5 s at 4, for one).
	Concurrency int
	// Full dry-runs every object, trusting no fingerprint the last sync
	// recorded: it also sees what changed on the server's side (a CRD's new
	// default or validation rule).
	Full bool
	// RetryFailed plans again an update whose revision already failed to
	// start (sync --retry-failed); without it the update is Held.
	RetryFailed bool
	// KeepManagers are field managers whose fields added by hand are meant
	// to stay on every object: not drift, and left by sync.
	KeepManagers []string
	// OmitCreateDiffs leaves out the YAML of the objects to create (their
	// Change.Diff), which only a plan's markdown and JSON show: a sync
	// shows neither.
	OmitCreateDiffs bool
	// WholeMembers reads every member whole. Otherwise a member the last
	// sync's record vouches for by its stamp (Record) is read by its
	// metadata only, and Result.Members holds just that of it: enough for
	// a plan and a sync, not for a prune (Differ.ReadWhole).
	WholeMembers bool
	// CapacitySnapshot, when set, is the ConfigMap ("namespace/name") a
	// trusted identity published the cluster's capacity in (capacity.Take):
	// the plan reads it instead of listing every namespace's pods.
	CapacitySnapshot string
}

// DefaultKeepManagers are the imperative managers kept by default:
// `kubectl rollout restart` (its restartedAt annotation; removing it would
// roll the pods again).
var DefaultKeepManagers = []string{"kubectl-rollout"}

// DefaultOptions returns the options modelsync uses unless told otherwise.
func DefaultOptions() Options {
	return Options{Inventory: inventory.DefaultName, Concurrency: 64, KeepManagers: DefaultKeepManagers}
}

// Differ computes plans for one namespace. It holds a cluster.Reader: it
// can read and dry-run, and has no way to write.
type Differ struct {
	r     cluster.Reader
	inv   *inventory.Inventory
	opts  Options
	early *early
}

// New returns a Differ for namespace.
func New(r cluster.Reader, namespace string, opts Options) *Differ {
	return &Differ{r: r, inv: inventory.New(r, namespace, opts.Inventory), opts: opts}
}

// Inventory is the differ's inventory.
func (d *Differ) Inventory() *inventory.Inventory { return d.inv }

// Prediction is the outcome of one desired object's dry run.
type Prediction struct {
	Object    manifest.Object
	Live      *unstructured.Unstructured
	Predicted *unstructured.Unstructured
	// Applied is what would be sent: the desired object with our label and
	// the live entries still awaiting prune.
	Applied *unstructured.Unstructured
	Change  Change
	// Pending are the shared-object entries kept until prune.
	Pending []gateway.Item
	// Moves are the entries this object gives to another of its group.
	Moves []Move
	// Held are the catalogue entries kept for models whose rules await the
	// prune (Settle drops them once the prune removed those rules).
	Held []string
	// Record is the record entry of an unchanged object (Record of Applied
	// and Live), which sync keeps.
	Record string
	// Surge marks an update of a serving StatefulSet's pod template whose
	// new pods fit beside everything running now: sync first brings up a
	// copy with the new template beside it (the model's Service serves
	// both), then updates it in place, then removes the copy.
	Surge bool
	// Room is, for an update that could surge and whose capacity was
	// checked, what a copy needs and what is free now: "4 nvidia.com/a100
	// and 256Gi of claims (deleted with the copy); free now: 12
	// nvidia.com/a100".
	Room string
	// Handover marks a workload whose spec.replicas modelsync applied and an
	// autoscaler of the tree now owns: sync first gives the field to
	// inventory.HandoverManager at its live value, so that applying without
	// it leaves the count where the autoscaler put it.
	Handover bool
	// Recorded is an unchanged object the last sync's record vouched for,
	// not dry-run. Its Live may hold only metadata (Result.Whole).
	Recorded bool
}

// Result is a plan with the predictions behind it, which sync applies.
type Result struct {
	Plan        *Plan
	Predictions []Prediction
	// Members are the live objects of the set. Unless Whole, those the
	// record vouched for by their stamp hold only their metadata
	// (Options.WholeMembers).
	Members []unstructured.Unstructured
	vouched map[manifest.ID]vouched
	// GroupKinds are the union of the parent's and the desired group-kinds.
	GroupKinds []schema.GroupKind
	// Parent is the inventory parent as the plan found it.
	Parent inventory.Parent
}

// Plan compares set with the live namespace.
func (d *Differ) Plan(ctx context.Context, set *desired.Set) (*Result, error) {
	ctx, op := cluster.Track(ctx)
	e := d.started()
	if e != nil {
		op, ctx = e.op, cluster.Join(ctx, e.op)
	}
	parent, read, claims, err := d.read(ctx, set, e)
	if err != nil {
		return nil, err
	}
	gks := append([]schema.GroupKind(nil), parent.GroupKinds...)
	for _, o := range set.Objects {
		gks = append(gks, o.GroupVersionKind().GroupKind())
	}
	members := read.members
	live := map[manifest.ID]*unstructured.Unstructured{}
	for i := range members {
		live[manifest.IDOf(&members[i])] = &members[i]
	}
	absent, err := d.absent(ctx, set, live)
	if err != nil {
		return nil, err
	}
	in := inputs{verified: parent.Verified, record: parent.Verified, holders: holders(set), vouched: read.vouched, absent: absent, autoscaled: set.Autoscaled}
	in.deferred = deferredMoves(set, live, in.holders)
	in.awaiting = rulesAwaitingPrune(set, live)
	if d.opts.Full {
		in.verified = nil
	}
	preds, err := d.predictAll(ctx, set, live, in)
	if err != nil {
		return nil, err
	}
	plan := &Plan{Revision: set.Revision, Dirty: set.Dirty, Namespace: d.inv.Namespace, Inventory: d.inv.ID(), Rollbacks: parent.Rollbacks}
	var copies []string // surge copies left by a sync that did not finish
	plan.Changes, copies = changesOf(preds, members, live)
	if err := d.addClaims(ctx, plan.Changes, members); err != nil {
		return nil, err
	}
	plan.Changes = append(plan.Changes, undersizedClaims(preds, claims)...)
	sortChanges(plan.Changes)
	plan.Models, plan.GPUs, plan.Unowned = modelChanges(preds, members)
	for i := range plan.Models {
		if plan.Models[i].Change != ModelRemoved {
			plan.Models[i].Start = set.Starts[plan.Models[i].Name]
		}
	}
	for _, c := range plan.Changes {
		if c.Action == PruneItem && c.Item != nil {
			plan.addEntry(c)
		}
	}
	for _, p := range preds {
		if p.Recorded {
			plan.Verified++
		}
	}
	plan.Warnings = append(op.Warnings(), copies...)
	noRoom := d.placeModels(ctx, preds, plan)
	gateDowntime(preds, plan, noRoom, d.opts.RetryFailed)
	restartLines(preds, plan)
	if parent.Distrusted != "" && !d.opts.Full {
		plan.Warnings = append(plan.Warnings, "the last sync's record was ignored and every object dry-run: "+parent.Distrusted)
	}
	plan.Requests = op.Requests()
	return &Result{Plan: plan, Predictions: preds, Members: members, vouched: read.vouched, GroupKinds: gks, Parent: parent}, nil
}

// read reads what the plan compares with: the inventory's parent (read
// early by Start, when it ran), the members, and for the claims check the
// namespace's claims, side by side.
func (d *Differ) read(ctx context.Context, set *desired.Set, e *early) (inventory.Parent, listed, []corev1.PersistentVolumeClaim, error) {
	var parent inventory.Parent
	var err error
	if e != nil && e.err == nil {
		parent = e.parent
	} else if parent, err = d.inv.Parent(ctx); err != nil {
		return parent, listed{}, nil, err
	}
	var read listed
	var claims []corev1.PersistentVolumeClaim
	lists, lctx := errgroup.WithContext(ctx)
	lists.Go(func() (err error) {
		read, err = d.members(lctx, set, parent, e)
		return err
	})
	if hasClaimTemplates(set) {
		lists.Go(func() (err error) {
			claims, err = d.listClaims(lctx)
			return err
		})
	}
	return parent, read, claims, lists.Wait()
}

// predictAll predicts every desired object (predict), in parallel; those
// the record vouches for without a request.
func (d *Differ) predictAll(ctx context.Context, set *desired.Set, live map[manifest.ID]*unstructured.Unstructured, in inputs) ([]Prediction, error) {
	preds := make([]Prediction, len(set.Objects))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(d.opts.Concurrency)
	for i, o := range set.Objects {
		if v, ok := in.vouched[o.ID()]; ok {
			preds[i] = vouchedFor(o, live[o.ID()], v)
			continue
		}
		g.Go(func() error {
			p, err := d.predict(gctx, o, live[o.ID()], in)
			preds[i] = p
			return err
		})
	}
	return preds, g.Wait()
}

// changesOf are the plan's changes: each prediction's, the entries its live
// object keeps until the prune, and a prune of every member the tree no
// longer has. Surge copies a sync left are not prunes; they are said apart.
func changesOf(preds []Prediction, members []unstructured.Unstructured, live map[manifest.ID]*unstructured.Unstructured) (changes []Change, copies []string) {
	desiredIDs := map[manifest.ID]bool{}
	for _, p := range preds {
		desiredIDs[p.Object.ID()] = true
	}
	moved := groupMoves(preds, members, desiredIDs)
	for _, p := range preds {
		c := p.Change
		c.Model = p.Object.GetLabels()[model.LabelModel]
		changes = append(changes, c)
		for _, it := range p.Pending {
			c := pruneItem(p, it)
			c.Model = entryModel(p.Live, it.Key, live)
			changes = append(changes, c)
		}
	}
	for _, m := range members {
		id := manifest.IDOf(&m)
		if desiredIDs[id] {
			continue
		}
		if of := m.GetAnnotations()[inventory.LabelSurgeOf]; of != "" {
			copies = append(copies, fmt.Sprintf("%s %s is the surge copy of %s from a sync that did not finish: sync continues that surge while the tree still asks for its revision, else removes the copy once %s serves",
				m.GetKind(), m.GetName(), of, of))
			continue
		}
		c := prune(&m)
		c.Model = m.GetLabels()[model.LabelModel]
		if why, ok := moved[id]; ok && c.Message == "" {
			c.Message = why
		}
		changes = append(changes, c)
	}
	return changes, copies
}

// Whole is whether every member in Members was read whole.
func (r *Result) Whole() bool { return len(r.vouched) == 0 }

// ReadWhole reads whole the members res holds only the metadata of, so that
// res serves a prune, which walks the references of what it keeps. A member
// deleted since is dropped.
func (d *Differ) ReadWhole(ctx context.Context, res *Result) error {
	var heads []*unstructured.Unstructured
	var members []unstructured.Unstructured
	for i := range res.Members {
		if _, ok := res.vouched[manifest.IDOf(&res.Members[i])]; ok {
			heads = append(heads, &res.Members[i])
		} else {
			members = append(members, res.Members[i])
		}
	}
	read, err := d.readWhole(ctx, heads)
	if err != nil {
		return err
	}
	res.Members, res.vouched = append(members, read...), nil
	return nil
}

// Secrets are the names of the Secrets of the tree and of the set's Secret
// members: what the inventory records so that the next plan reads them by
// name (inventory.Parent.Secrets). gone leaves out members a prune deleted.
func (r *Result) Secrets(gone func(manifest.ID) bool) []string {
	var out []string
	for _, p := range r.Predictions {
		if isSecretKind(p.Object.GroupVersionKind().GroupKind()) {
			out = append(out, p.Object.GetName())
		}
	}
	for i := range r.Members {
		if id := manifest.IDOf(&r.Members[i]); isSecretKind(id.GroupKind()) && (gone == nil || !gone(id)) {
			out = append(out, id.Name)
		}
	}
	return inventory.SecretNames(out)
}

// Line is the change in one line: "action Kind name [noun key]".
func (c Change) Line() string {
	s := string(c.Action) + " " + c.Kind + " " + c.Name
	if c.Item != nil {
		s += " " + c.Item.Noun + " " + c.Item.Key
	}
	return s
}

func isSecretKind(gk schema.GroupKind) bool { return gk.Group == "" && gk.Kind == "Secret" }

// treeVersions is, for each group-kind of the tree, the version most of its
// objects are written in. Members are listed in it, so that their
// fingerprints compare with what sync applied and the API server warns about
// a deprecated version; predict reads an object written in another version
// again in its own.
func treeVersions(set *desired.Set) []schema.GroupVersionKind {
	count := map[schema.GroupVersionKind]int{}
	best := map[schema.GroupKind]schema.GroupVersionKind{}
	var gks []schema.GroupKind
	for _, o := range set.Objects {
		gvk := o.GroupVersionKind()
		count[gvk]++
		b, ok := best[gvk.GroupKind()]
		if !ok {
			gks = append(gks, gvk.GroupKind())
		}
		if !ok || count[gvk] > count[b] {
			best[gvk.GroupKind()] = gvk
		}
	}
	out := make([]schema.GroupVersionKind, len(gks))
	for i, gk := range gks {
		out[i] = best[gk]
	}
	return out
}

func changeOf(a Action, u *unstructured.Unstructured) Change {
	return Change{Action: a, APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
}

var actionOrder = map[Action]int{Error: 0, Conflict: 1, Adopt: 2, Create: 3, Update: 4, Resize: 5, PruneItem: 6, Replace: 7, Recreate: 7, Prune: 8, Terminating: 9, Held: 9, Unchanged: 10}

func sortChanges(cs []Change) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if actionOrder[a.Action] != actionOrder[b.Action] {
			return actionOrder[a.Action] < actionOrder[b.Action]
		}
		if a.ID() != b.ID() {
			return a.ID().Less(b.ID())
		}
		return a.Item != nil && b.Item != nil && a.Item.Key < b.Item.Key
	})
}
