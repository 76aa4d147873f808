package diff

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/desired"
	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/manifest"
	"modelsync.dev/modelsync/model"
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
	// KeepManagers are field managers whose fields added by hand are meant
	// to stay on every object: not drift, and left by sync.
	KeepManagers []string
}

// DefaultKeepManagers are the imperative managers kept by default:
// `kubectl rollout restart` (its restartedAt annotation; removing it would
// roll the pods again).
var DefaultKeepManagers = []string{"kubectl-rollout"}

// DefaultOptions returns the options modelsync uses unless told otherwise.
func DefaultOptions() Options {
	return Options{Inventory: inventory.DefaultName, Concurrency: 32, KeepManagers: DefaultKeepManagers}
}

// Differ computes plans for one namespace. It holds a cluster.Reader: it
// can read and dry-run, and has no way to write.
type Differ struct {
	r    cluster.Reader
	inv  *inventory.Inventory
	opts Options
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
	ctx, op := cluster.Track(ctx)
	parent, err := d.inv.Parent(ctx)
	if err != nil {
		return nil, err
	}
	gks := append([]schema.GroupKind(nil), parent.GroupKinds...)
	for _, o := range set.Objects {
		gks = append(gks, o.GroupVersionKind().GroupKind())
	}
	var secrets []string
	for _, o := range set.Objects {
		if isSecretKind(o.GroupVersionKind().GroupKind()) {
			secrets = append(secrets, o.GetName())
		}
	}
	members, err := d.inv.Members(ctx, append(treeVersions(set), inventory.Kinds(parent.GroupKinds)...), append(secrets, parent.Secrets...), d.opts.Concurrency)
	if err != nil {
		return nil, err
	}
	live := map[manifest.ID]*unstructured.Unstructured{}
	for i := range members {
		live[manifest.IDOf(&members[i])] = &members[i]
	}
	in := inputs{verified: parent.Verified, holders: holders(set)}
	in.deferred = deferredMoves(set, live, in.holders)
	in.awaiting = rulesAwaitingPrune(set, live)
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
	}
	moved := groupMoves(preds, members, desiredIDs)
	for _, p := range preds {
		if p.Recorded {
			plan.Verified++
		}
		c := p.Change
		c.Model = p.Object.GetLabels()[model.LabelModel]
		plan.Changes = append(plan.Changes, c)
		for _, it := range p.Pending {
			c := pruneItem(p, it)
			c.Model = entryModel(p.Live, it.Key, live)
			plan.Changes = append(plan.Changes, c)
		}
	}
	for _, m := range members {
		if id := manifest.IDOf(&m); !desiredIDs[id] {
			c := prune(&m)
			c.Model = m.GetLabels()[model.LabelModel]
			if why, ok := moved[id]; ok && c.Message == "" {
				c.Message = why
			}
			plan.Changes = append(plan.Changes, c)
		}
	}
	if err := d.addClaims(ctx, plan.Changes, members); err != nil {
		return nil, err
	}
	resizes, err := d.undersizedClaims(ctx, preds)
	if err != nil {
		return nil, err
	}
	plan.Changes = append(plan.Changes, resizes...)
	sortChanges(plan.Changes)
	plan.Models, plan.GPUs, plan.Unowned = modelChanges(preds, members)
	for i := range plan.Models {
		if plan.Models[i].Change != "removed" {
			plan.Models[i].Start = set.Starts[plan.Models[i].Name]
		}
	}
	for _, c := range plan.Changes {
		if c.Action == PruneItem && c.Item != nil {
			plan.addEntry(c)
		}
	}
	plan.Warnings = op.Warnings()
	d.placeModels(ctx, preds, plan)
	if parent.Distrusted != "" && !d.opts.Full {
		plan.Warnings = append(plan.Warnings, "the last sync's record was ignored and every object dry-run: "+parent.Distrusted)
	}
	plan.Requests = op.Requests()
	return &Result{Plan: plan, Predictions: preds, Members: members, GroupKinds: gks, Parent: parent}, nil
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

var actionOrder = map[Action]int{Error: 0, Conflict: 1, Adopt: 2, Create: 3, Update: 4, Resize: 5, PruneItem: 6, Replace: 7, Prune: 8, Terminating: 9, Unchanged: 10}

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
// last sync verified, in named stages: resolve the live object, what would
// be applied, trust the record, find an object to adopt, dry-run, classify.
// Only failures to reach the API server are returned as errors; a refused
// object becomes an Error change.
func (d *Differ) predict(ctx context.Context, o manifest.Object, member *unstructured.Unstructured, in inputs) (Prediction, error) {
	ctx = cluster.WithSubject(ctx, o.ID().String())
	p := Prediction{Object: o}
	p.Change = changeOf(Create, o.Unstructured)
	p.Change.Origin = o.Origin.String()
	live, err := d.resolveLive(ctx, o, member)
	if err != nil {
		return d.failed(p, err)
	}
	p.Live = live
	if live != nil && live.GetDeletionTimestamp() != nil {
		terminating(&p.Change, live)
		p.Change.Message += "; sync creates it again once it is gone"
		return p, nil
	}
	p.Applied, p.Pending, p.Moves = d.applied(o, live, in)
	p.Held = holdCatalogue(p.Applied, live, in.awaiting)
	if msg := overfull(p); msg != "" {
		return refused(p, msg), nil
	}
	if fp, ok := trusted(p.Applied, live, in.verified); ok {
		p.Predicted, p.Fingerprint, p.Recorded, p.Change.Action = live, fp, true, Unchanged
		return p, nil
	}
	adopting := false
	if live == nil {
		existing, err := d.outsideTheSet(ctx, o)
		switch {
		case err != nil:
			return d.failed(p, err)
		case existing != nil:
			if owner := existing.GetLabels()[inventory.LabelPartOf]; owner != "" && owner != d.inv.ID() {
				return refused(p, fmt.Sprintf("belongs to another ApplySet (%s); modelsync will not take it", owner)), nil
			}
			p.Live, p.Change.Owners, adopting = existing, managers(existing), true
		}
	}
	predicted, conflicts, err := d.dryRun(ctx, p.Applied, adopting)
	if fields := immutable(err, p.Applied, p.Live); fields != nil && !adopting {
		return replace(p, fields), nil
	}
	if err != nil {
		return d.failed(p, err)
	}
	p.Predicted = predicted
	if !adopting {
		p.Change.Added, p.Change.TakeFrom = addedByHand(p.Live, p.Predicted, p.Applied, d.opts.KeepManagers)
	}
	return classify(p, conflicts, adopting)
}

// resolveLive is the member as the tree's version shows it: a member listed
// in another version of its kind is read again in the tree's; nil when it
// is not a member, or was deleted since the LIST.
func (d *Differ) resolveLive(ctx context.Context, o manifest.Object, member *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if member == nil || member.GetAPIVersion() == o.GetAPIVersion() {
		return member, nil
	}
	got, err := d.r.Get(ctx, o.GroupVersionKind(), o.GetNamespace(), o.GetName())
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return got, err
}

// trusted is the fingerprint of an object the last sync's record vouches
// for: applying the same configuration to it again would change nothing.
func trusted(applied, live *unstructured.Unstructured, verified map[string]string) (string, bool) {
	if live == nil || verified == nil {
		return "", false
	}
	fp := Fingerprint(applied, live)
	return fp, fp != "" && verified[string(live.GetUID())] == fp
}

// outsideTheSet is an existing object of o's name that is not a member.
func (d *Differ) outsideTheSet(ctx context.Context, o manifest.Object) (*unstructured.Unstructured, error) {
	existing, err := d.r.Get(ctx, o.GroupVersionKind(), o.GetNamespace(), o.GetName())
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return existing, err
}

// dryRun server-side applies u with dryRun=All. Adopting takes every field
// over, so it is forced at once; otherwise it is tried unforced first, and a
// conflict names the fields a sync would take from other managers, before a
// forced try gives the prediction.
func (d *Differ) dryRun(ctx context.Context, u *unstructured.Unstructured, adopting bool) (*unstructured.Unstructured, []string, error) {
	predicted, err := d.r.DryRunApply(ctx, u, inventory.FieldManager, adopting)
	if adopting || !apierrors.IsConflict(err) {
		return predicted, nil, err
	}
	conflicts := conflictManagers(err)
	predicted, err = d.r.DryRunApply(ctx, u, inventory.FieldManager, true)
	return predicted, conflicts, err
}

// classify names the change from the dry run's prediction.
func classify(p Prediction, conflicts []string, adopting bool) (Prediction, error) {
	o := p.Object
	var err error
	if p.Change.Diff, err = compare(p.Live, p.Predicted, o.GetKind()+"/"+o.GetName()); err != nil {
		return p, err
	}
	switch {
	case adopting:
		p.Change.Action = Adopt
	case p.Live == nil:
		p.Change.Action = Create
	case len(conflicts) > 0:
		p.Change.Action, p.Change.Conflicts = Conflict, conflicts
		p.Change.Message = "overwrites fields owned by another field manager (a hand edit?)"
	case len(p.Change.Added) > 0:
		p.Change.Action = Conflict
		p.Change.Message = "fields added by hand that the tree does not have: sync removes them (keep a manager's fields with the annotation " + inventory.AnnotationCoOwners + ")"
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

// refused is p refused, with why.
func refused(p Prediction, msg string) Prediction {
	p.Change.Action, p.Change.Message = Error, msg
	return p
}

// failed turns a request's error into a refusal of the object, unless the
// API server could not be reached: that stops the plan.
func (d *Differ) failed(p Prediction, err error) (Prediction, error) {
	o := p.Object
	if meta.IsNoMatchError(err) {
		return refused(p, fmt.Sprintf("the API server does not serve %s/%s: install its CRD first", o.GetAPIVersion(), o.GetKind())), nil
	}
	err = RedactSecret(o.GroupVersionKind().GroupKind(), err)
	if cluster.IsUnreachable(err) {
		return p, fmt.Errorf("%s: %w", o.ID(), err)
	}
	return refused(p, err.Error()), nil
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
