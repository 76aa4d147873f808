package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/tree/model"
	"modelsync.dev/modelsync/workload"
)

// ErrNotStarted: a model's new revision did not start; the serving
// revision was left as it was and keeps serving.
var ErrNotStarted = errors.New("the new revision did not start")

// AnnotationStartDeadline bounds how long a workload's new revision may take
// to start in a surge (model.AnnotationStartDeadline). Without it the bound
// is the pod template's startup probe budget plus workload.RolloutMargin.
const AnnotationStartDeadline = model.AnnotationStartDeadline

// surged applies a StatefulSet or LeaderWorkerSet update that diff marked
// Surge, so that the model it serves keeps serving throughout:
//
//  1. a copy with the new pod templates, named <name>-surge, starts beside
//     the serving workload. Its pods carry the serving pods' labels, so
//     the model's Service (and InferencePool) serves them too once ready;
//     the copy selects only its own pods (inventory.LabelSurgeOf).
//  2. once every pod of the copy is ready, the workload is updated in
//     place: while its pods restart, the copy serves;
//  3. once the workload is ready at the new revision, the copy and its
//     claims are deleted.
//
// If the copy does not start within the start deadline (or cannot be
// scheduled), it is deleted and the workload is not touched: the old
// revision keeps serving, and the sync fails with ErrNotStarted naming the
// model and why. The copy is a member of the set while it exists, so a run
// cut off half-way leaves it findable: the next plan lists it for pruning.
func (m *Manager) surged(ctx context.Context, p diff.Prediction, fence Fence) (*unstructured.Unstructured, error) {
	c := surgeCopy(p.Applied, p.Live)
	name := p.Applied.GetName()
	deadline := startDeadline(p.Applied)
	if _, err := m.apply(ctx, c, fence); err != nil {
		return nil, fmt.Errorf("create its surge copy %s: %w", c.GetName(), err)
	}
	if err := m.waitWithin(ctx, c, deadline); err != nil {
		if ctx.Err() != nil {
			// The run stopped (its job cancelled or timed out): the copy
			// keeps loading; the next sync continues the surge, or removes
			// the copy if the tree moved on (settleCopies).
			return nil, fmt.Errorf("stopped while its surge copy %s starts (it keeps loading; the next sync continues the surge or removes the copy): %w", c.GetName(), err)
		}
		if derr := m.deleteCopy(ctx, c, fence); derr != nil {
			err = errors.Join(err, fmt.Errorf("delete the copy %s: %w (delete it by hand)", c.GetName(), derr))
		}
		rerr := fence.Hold(ctx)
		if rerr == nil {
			rerr = m.recordStart(ctx, p.Live, diff.TemplateDigest(p.Applied), err)
		}
		if rerr != nil {
			err = errors.Join(err, fmt.Errorf("record the failed start on %s: %w", name, rerr))
		}
		return nil, fmt.Errorf("%w: Model %s: a copy of %s %s with the new pod template did not start (deadline %s): %w; "+
			"revision %s still serving (untouched); the tree declares %s: change the Model and sync again",
			ErrNotStarted, p.Object.GetLabels()[model.LabelModel], p.Applied.GetKind(), name, deadline, err, diff.TemplateDigest(p.Live), diff.TemplateDigest(p.Applied))
	}
	stored, err := m.apply(ctx, p.Applied, fence)
	if err != nil {
		return nil, fmt.Errorf("apply (its copy %s serves the new revision meanwhile): %w", c.GetName(), err)
	}
	if err := m.waitWithin(ctx, p.Applied, deadline); err != nil {
		return stored, fmt.Errorf("%s did not become ready at the new revision within %s: %w; its copy %s keeps serving the new revision until it does (sync again)", name, deadline, err, c.GetName())
	}
	if err := m.deleteCopy(ctx, c, fence); err != nil {
		return stored, fmt.Errorf("delete its surge copy %s: %w", c.GetName(), err)
	}
	if err := m.recordStart(ctx, stored, "", nil); err != nil {
		return stored, fmt.Errorf("clear the record of an earlier failed start on %s: %w", name, err)
	}
	return stored, nil
}

// rolloutManager owns what sync records about a workload's rollouts.
const rolloutManager = "modelsync-rollout"

// recordStart records on live that the revision named digest failed to
// start, and why (inventory.AnnotationFailedRevision): the plans after it
// hold the model at its old revision instead of loading the same revision
// again. With no failure it clears the record.
func (m *Manager) recordStart(ctx context.Context, live *unstructured.Unstructured, digest string, failure error) error {
	md := map[string]any{"name": live.GetName(), "namespace": live.GetNamespace()}
	if failure != nil {
		why := failure.Error()
		if len(why) > 300 {
			why = why[:300] + "…"
		}
		md["annotations"] = map[string]any{inventory.AnnotationFailedRevision: digest, inventory.AnnotationFailedReason: why}
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": live.GetAPIVersion(), "kind": live.GetKind(), "metadata": md}}
	_, err := m.clients.Apply(ctx, u, cluster.ApplyOptions{FieldManager: rolloutManager, Force: true})
	return err
}

// surgeCopy is applied under another name, with live's replicas, its pods
// labeled (and, for a StatefulSet, selected) as the copy's own, and its
// claims deleted with it. A LeaderWorkerSet finds its pods by its own name.
func surgeCopy(applied, live *unstructured.Unstructured) *unstructured.Unstructured {
	c := applied.DeepCopy()
	name := diff.SurgeCopyName(applied.GetName())
	c.SetName(name)
	ann := c.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[inventory.LabelSurgeOf] = applied.GetName()
	c.SetAnnotations(ann)
	for _, t := range workload.Templates(c) {
		_ = unstructured.SetNestedField(c.Object, name, append(slices.Clone(t.Path), "metadata", "labels", inventory.LabelSurgeOf)...)
	}
	_ = unstructured.SetNestedField(c.Object, workload.Count(live.Object, 1, "spec", "replicas"), "spec", "replicas")
	retention := []string{"spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted"}
	if c.GetKind() == workload.LeaderWorkerSet.Kind {
		retention = []string{"spec", "leaderWorkerTemplate", "persistentVolumeClaimRetentionPolicy", "whenDeleted"}
	} else {
		_ = unstructured.SetNestedField(c.Object, name, "spec", "selector", "matchLabels", inventory.LabelSurgeOf)
	}
	_ = unstructured.SetNestedField(c.Object, "Delete", retention...)
	return c
}

// startDeadline is how long a new revision may take to start.
func startDeadline(u *unstructured.Unstructured) time.Duration {
	if d, err := time.ParseDuration(u.GetAnnotations()[AnnotationStartDeadline]); err == nil && d > 0 {
		return d
	}
	return workload.RolloutBudget([]*unstructured.Unstructured{u}, time.Minute).Timeout
}

// waitWithin waits until u is ready, for at most d; a workload whose pods
// the scheduler cannot place fails at once.
func (m *Manager) waitWithin(ctx context.Context, u *unstructured.Unstructured, d time.Duration) error {
	opts := DefaultWaitOptions()
	opts.Timeout, opts.Interval = d, time.Second
	return m.Wait(ctx, []*unstructured.Unstructured{u}, opts, NoProgress{})
}

// deleteCopy deletes a surge copy; its claims go with it. It deletes as
// prune does, marked with the run's fence token and on the marked
// resourceVersion, so a run that lost its Lease while the copy loaded
// deletes nothing: the run that took the Lease may be continuing the same
// surge with this copy.
func (m *Manager) deleteCopy(ctx context.Context, c *unstructured.Unstructured, fence Fence) error {
	res, err := m.clients.Resource(c.GroupVersionKind(), c.GetNamespace())
	if err != nil {
		return err
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := fence.Hold(ctx); err != nil {
			return err
		}
		live, err := res.Get(ctx, c.GetName(), metav1.GetOptions{})
		if err != nil || live.GetDeletionTimestamp() != nil {
			return err
		}
		rv, err := m.markDeleting(ctx, res, live, fence)
		if err != nil {
			return err
		}
		uid := live.GetUID()
		return res.Delete(ctx, c.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv},
			PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// settleCopies handles the surge copies a sync that did not finish left
// (cut off, or its job cancelled): one whose workload this sync surges
// again is reused by surged (its pods keep loading); any other is removed
// once the workload it stands for serves, and kept while it does not
// (the copy may be what serves the model: the sync stopped while the
// workload restarted). A revert in the meantime so removes the new
// revision and leaves the serving one alone.
func (m *Manager) settleCopies(ctx context.Context, res *diff.Result, fence Fence) ([]string, error) {
	surging := map[string]bool{}
	for _, p := range res.Predictions {
		if p.Surge {
			surging[p.Object.GetName()] = true
		}
	}
	var out []string
	for i := range res.Members {
		c := &res.Members[i]
		of := c.GetAnnotations()[inventory.LabelSurgeOf]
		if of == "" || surging[of] || c.GetDeletionTimestamp() != nil {
			continue
		}
		target, err := m.getAt(ctx, diff.Change{APIVersion: c.GetAPIVersion(), Kind: c.GetKind(), Namespace: c.GetNamespace(), Name: of}, c.GetAPIVersion())
		if err != nil && !apierrors.IsNotFound(err) {
			return out, err
		}
		if target == nil || err != nil {
			out = append(out, fmt.Sprintf("kept %s %s: the %s %s it stands for is gone", c.GetKind(), c.GetName(), c.GetKind(), of))
			continue
		}
		if ready, why := workload.Ready(target); !ready {
			out = append(out, fmt.Sprintf("kept %s %s: it serves while %s is not ready (%s)", c.GetKind(), c.GetName(), of, why))
			continue
		}
		if err := m.deleteCopy(ctx, c, fence); err != nil {
			return out, fmt.Errorf("remove the surge copy %s: %w", c.GetName(), err)
		}
		out = append(out, fmt.Sprintf("removed %s %s, the surge copy of %s from a sync that did not finish: %s serves", c.GetKind(), c.GetName(), of, of))
	}
	return out, nil
}
