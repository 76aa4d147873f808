package diff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/desired"
	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/manifest"
)

// Options configures a Differ.
type Options struct {
	// Inventory is the ApplySet parent Secret's name.
	Inventory string
	// Concurrency bounds the dry-run requests in flight.
	Concurrency int
	// Full dry-runs every object, trusting no fingerprint the last sync
	// recorded: it also sees what changed on the server's side (a CRD's new
	// default or validation rule).
	Full bool
}

// DefaultOptions returns the options modelsync uses unless told otherwise.
func DefaultOptions() Options {
	return Options{Inventory: inventory.DefaultName, Concurrency: 32}
}

// Differ computes plans for one namespace.
type Differ struct {
	c    *cluster.Clients
	inv  *inventory.Inventory
	opts Options
}

// New returns a Differ for namespace.
func New(c *cluster.Clients, namespace string, opts Options) *Differ {
	return &Differ{c: c, inv: inventory.New(c.Dynamic, c.Core, c.Mapper, namespace, opts.Inventory), opts: opts}
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
	// Fingerprint of an unchanged object (Fingerprint of Applied and Live),
	// which sync records.
	Fingerprint string
	// Recorded is an unchanged object the last sync's record vouched for,
	// not dry-run.
	Recorded bool
}

// Result is a plan with the predictions behind it, which sync applies.
type Result struct {
	Plan        *Plan
	Predictions []Prediction
	// Members are the live objects of the set.
	Members []unstructured.Unstructured
	// GroupKinds are the union of the parent's and the desired group-kinds.
	GroupKinds []schema.GroupKind
	// Parent is the inventory parent as the plan found it.
	Parent inventory.Parent
}

// Plan compares set with the live namespace.
func (d *Differ) Plan(ctx context.Context, set *desired.Set) (*Result, error) {
	start := d.c.Requests()
	d.c.TakeWarnings() // drop what earlier requests on these clients were told
	parent, err := d.inv.Parent(ctx)
	if err != nil {
		return nil, err
	}
	gks := append([]schema.GroupKind(nil), parent.GroupKinds...)
	for _, o := range set.Objects {
		gks = append(gks, o.GroupVersionKind().GroupKind())
	}
	members, err := d.inv.Members(ctx, append(treeVersions(set), inventory.Kinds(parent.GroupKinds)...), d.opts.Concurrency)
	if err != nil {
		return nil, err
	}
	live := map[manifest.ID]*unstructured.Unstructured{}
	for i := range members {
		live[manifest.IDOf(&members[i])] = &members[i]
	}
	in := inputs{verified: parent.Verified, holders: holders(set)}
	in.deferred = deferredMoves(set, live, in.holders)
	if d.opts.Full {
		in.verified = nil
	}
	preds := make([]Prediction, len(set.Objects))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(d.opts.Concurrency)
	for i, o := range set.Objects {
		g.Go(func() error {
			p, err := d.predict(gctx, o, live[o.ID()], in)
			preds[i] = p
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	plan := &Plan{Revision: set.Revision, Dirty: set.Dirty, Namespace: d.inv.Namespace, Inventory: d.inv.ID()}
	desiredIDs := map[manifest.ID]bool{}
	for _, p := range preds {
		desiredIDs[p.Object.ID()] = true
		if p.Recorded {
			plan.Verified++
		}
		plan.Changes = append(plan.Changes, p.Change)
		for _, it := range p.Pending {
			plan.Changes = append(plan.Changes, pruneItem(p, it))
		}
	}
	for _, m := range members {
		if !desiredIDs[manifest.IDOf(&m)] {
			plan.Changes = append(plan.Changes, prune(&m))
		}
	}
	if err := d.addClaims(ctx, plan.Changes, members); err != nil {
		return nil, err
	}
	sortChanges(plan.Changes)
	plan.Warnings = d.c.TakeWarnings()
	if parent.Distrusted != "" && !d.opts.Full {
		plan.Warnings = append(plan.Warnings, "the last sync's record was ignored and every object dry-run: "+parent.Distrusted)
	}
	plan.Requests = d.c.Requests() - start
	return &Result{Plan: plan, Predictions: preds, Members: members, GroupKinds: gks, Parent: parent}, nil
}

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

var actionOrder = map[Action]int{Error: 0, Conflict: 1, Adopt: 2, Create: 3, Update: 4, PruneItem: 5, Prune: 6, Terminating: 7, Unchanged: 8}

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

// predict dry-runs one object, unless it is a member whose fingerprint the
// last sync verified. Only failures to reach the API server are returned as
// errors; a refused object becomes an Error change.
func (d *Differ) predict(ctx context.Context, o manifest.Object, live *unstructured.Unstructured, in inputs) (Prediction, error) {
	ctx = cluster.WithSubject(ctx, o.ID().String())
	p := Prediction{Object: o, Live: live}
	p.Change = changeOf(Create, o.Unstructured)
	p.Change.Origin = o.Origin.String()
	refuse := func(msg string) (Prediction, error) {
		p.Change.Action, p.Change.Message = Error, msg
		return p, nil
	}
	fail := func(err error) (Prediction, error) {
		err = RedactSecret(o.Unstructured, err)
		if cluster.IsUnreachable(err) {
			return p, fmt.Errorf("%s: %w", o.ID(), err)
		}
		return refuse(err.Error())
	}
	m, err := d.c.Mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
	if meta.IsNoMatchError(err) {
		return refuse(fmt.Sprintf("the API server does not serve %s/%s: install its CRD first", o.GetAPIVersion(), o.GetKind()))
	}
	if err != nil {
		return p, fmt.Errorf("%s: %w", o.ID(), err)
	}
	res := d.c.Dynamic.Resource(m.Resource).Namespace(o.GetNamespace())
	if live != nil && live.GetAPIVersion() != o.GetAPIVersion() {
		// Listed in the kind's other version: compare in the tree's.
		got, err := res.Get(ctx, o.GetName(), metav1.GetOptions{})
		switch {
		case err == nil:
			live = got
		case apierrors.IsNotFound(err):
			live = nil // deleted since the LIST
		default:
			return fail(err)
		}
	}
	p.Live = live
	if live != nil && live.GetDeletionTimestamp() != nil {
		terminating(&p.Change, live)
		p.Change.Message += "; sync creates it again once it is gone"
		return p, nil
	}
	p.Applied, p.Pending, p.Moves = d.applied(o, live, in)
	if msg := overfull(p); msg != "" {
		return refuse(msg)
	}
	if live != nil && in.verified != nil {
		if fp := Fingerprint(p.Applied, live); fp != "" && in.verified[string(live.GetUID())] == fp {
			p.Predicted, p.Fingerprint, p.Recorded, p.Change.Action = live, fp, true, Unchanged
			return p, nil
		}
	}
	if live == nil {
		existing, err := res.Get(ctx, o.GetName(), metav1.GetOptions{})
		switch {
		case err == nil:
			if owner := existing.GetLabels()[inventory.LabelPartOf]; owner != "" && owner != d.inv.ID() {
				return refuse(fmt.Sprintf("belongs to another ApplySet (%s); modelsync will not take it", owner))
			}
			p.Live = existing
			p.Change.Action = Adopt
			p.Change.Managers = managers(existing)
		case !apierrors.IsNotFound(err):
			return fail(err)
		}
	}
	p.Predicted, p.Change.Managers, err = d.dryRun(ctx, res, p.Applied, p.Change.Managers)
	if err != nil {
		return fail(err)
	}
	if p.Change.Diff, err = compare(p.Live, p.Predicted, o.GetKind()+"/"+o.GetName()); err != nil {
		return p, err
	}
	switch {
	case p.Change.Action == Adopt || p.Live == nil:
	case len(p.Change.Managers) > 0:
		p.Change.Action = Conflict
		p.Change.Message = "overwrites fields owned by another field manager (a hand edit?)"
	case p.Change.Diff == "":
		p.Change.Action = Unchanged
		p.Fingerprint = Fingerprint(p.Applied, p.Live)
	default:
		p.Change.Action = Update
	}
	if msg := movesMessage(p.Moves); msg != "" {
		p.Change.Message = strings.TrimPrefix(p.Change.Message+"; "+msg, "; ")
	}
	return p, nil
}

// dryRun server-side applies u with dryRun=All and strict field validation.
// Without force first: a conflict names the managers whose fields a sync would
// take; then with force, for the prediction.
func (d *Differ) dryRun(ctx context.Context, res resourceClient, u *unstructured.Unstructured, managers []string) (*unstructured.Unstructured, []string, error) {
	data, err := json.Marshal(u.Object)
	if err != nil {
		return nil, nil, err
	}
	opts := metav1.PatchOptions{FieldManager: inventory.FieldManager, DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}
	force := managers != nil // adopting takes fields over anyway
	opts.Force = &force
	out, err := res.Patch(ctx, u.GetName(), types.ApplyPatchType, data, opts)
	if apierrors.IsConflict(err) && !force {
		managers = conflictManagers(err)
		force = true
		out, err = res.Patch(ctx, u.GetName(), types.ApplyPatchType, data, opts)
	}
	return out, managers, err
}

type resourceClient interface {
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, sub ...string) (*unstructured.Unstructured, error)
}

func conflictManagers(err error) []string {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return []string{err.Error()}
	}
	var out []string
	for _, c := range status.Status().Details.Causes {
		out = append(out, fmt.Sprintf("%s %s", c.Field, c.Message))
	}
	sort.Strings(out)
	return out
}

func managers(u *unstructured.Unstructured) []string {
	out := []string{}
	for _, mf := range u.GetManagedFields() {
		out = append(out, fmt.Sprintf("%s (%s)", mf.Manager, mf.Operation))
	}
	return out
}
