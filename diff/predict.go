package diff

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/workload"
)

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
	if entry, ok := trusted(p.Applied, live, in.verified); ok {
		p.Predicted, p.Record, p.Recorded, p.Change.Action = live, entry, true, Unchanged
		return p, nil
	}
	adopting := false
	if live == nil && !in.absent[o.ID()] {
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
	by, autoscaled := in.autoscaled[o.ID()]
	if autoscaled && !adopting && p.Live != nil {
		handOver(&p)
	}
	if !adopting {
		p.Change.Added, p.Change.TakeFrom = addedByHand(p.Live, p.Predicted, p.Applied, d.opts.KeepManagers)
	}
	p, err = classify(p, conflicts, adopting, d.opts.OmitCreateDiffs)
	if err == nil && p.Change.Action == Update && appliedAgain(p.Applied, p.Live, in.record) {
		p.Change.Action, p.Change.Message = Conflict, strings.TrimPrefix(p.Change.Message+"; "+changedOnCluster, "; ")
	}
	if p.Change.Action == Unchanged && err == nil && !adopting {
		p = movedVersion(p)
	}
	if p.Handover && p.Change.Action != Unchanged {
		p.Change.Message = strings.TrimPrefix(p.Change.Message+"; spec.replicas is left to "+by+": sync first hands the field over at its live value", "; ")
	}
	return p, err
}

// handOver predicts the hand-over of a workload's replicas to its
// autoscaler. The autoscaler's first write through the scale subresource
// takes spec.replicas from modelsync's apply entry; until then modelsync
// holds it, and an apply without it would remove the field and the API
// server default it back to 1. Sync gives
// the field at its live value to inventory.HandoverManager first
// (Prediction.Handover), so the count stays the autoscaler's.
func handOver(p *Prediction) {
	replicas, ok, _ := unstructured.NestedFieldCopy(p.Live.Object, "spec", "replicas")
	if !ok || !workload.OwnsReplicas(p.Live, inventory.FieldManager) {
		return
	}
	p.Predicted = p.Predicted.DeepCopy()
	_ = unstructured.SetNestedField(p.Predicted.Object, replicas, "spec", "replicas")
	p.Handover = true
}

// movedVersion turns an unchanged object whose fields modelsync recorded at
// a version the tree left into an update: once the API server stops
// serving that version, only a read at another finds them, and applying
// them again moves them to the tree's.
func movedVersion(p Prediction) Prediction {
	entry, ok := inventory.ApplyEntry(p.Live)
	if !ok || entry.APIVersion == p.Object.GetAPIVersion() {
		return p
	}
	p.Change.Action, p.Record = Update, ""
	p.Change.Message = fmt.Sprintf("modelsync's fields are recorded at %s; sync applies them again at %s, the tree's version, so they stay readable once %s is no longer served", entry.APIVersion, p.Object.GetAPIVersion(), entry.APIVersion)
	return p
}

// changedOnCluster explains a change of an object whose configuration is
// the one the last sync applied to it.
const changedOnCluster = "changed on the cluster since the last sync applied this same configuration (`kubectl scale`, whose write through the scale subresource is no conflict to the API server, a field removed by hand, or a new server-side default): sync sets the tree's values back; to keep the change, put it in the tree"

// vouchedFor is the prediction of a member the record vouches for by its
// stamp: unchanged, not dry-run.
func vouchedFor(o manifest.Object, member *unstructured.Unstructured, v vouched) Prediction {
	c := changeOf(Unchanged, o.Unstructured)
	c.Origin = o.Origin.String()
	return Prediction{Object: o, Live: member, Applied: v.applied, Predicted: member, Record: v.entry, Recorded: true, Change: c}
}

// resolveLive is the member as the tree's version shows it: a member listed
// in another version of its kind is read again in the tree's; nil when it
// is not a member, or was deleted since the LIST.
func (d *Differ) resolveLive(ctx context.Context, o manifest.Object, member *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if member == nil || member.GetAPIVersion() == o.GetAPIVersion() {
		return member, nil
	}
	return d.whole(ctx, o)
}

// whole reads o's live object whole, in o's version; nil when there is none.
func (d *Differ) whole(ctx context.Context, o manifest.Object) (*unstructured.Unstructured, error) {
	got, err := d.r.Get(ctx, o.GroupVersionKind(), o.GetNamespace(), o.GetName())
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return got, err
}

// trusted is the record entry of an object the last sync's record vouches
// for by its fingerprint: applying the same configuration to it again would
// change nothing. The entry is stamped anew with live's resourceVersion,
// at which the fingerprint was just seen to hold.
func trusted(applied, live *unstructured.Unstructured, verified map[string]string) (string, bool) {
	if live == nil || verified == nil {
		return "", false
	}
	entry := Record(applied, live)
	fp, _, _ := splitRecord(entry)
	recorded, _, _ := splitRecord(verified[string(live.GetUID())])
	return entry, fp != "" && recorded == fp
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
func classify(p Prediction, conflicts []string, adopting, omitCreateDiffs bool) (Prediction, error) {
	o := p.Object
	var err error
	if p.Live != nil || !omitCreateDiffs {
		if p.Change.Diff, err = compare(p.Live, p.Predicted, o.GetKind()+"/"+o.GetName()); err != nil {
			return p, err
		}
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
		p.Record = Record(p.Applied, p.Live)
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
