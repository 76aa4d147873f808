package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/inventory"
)

// deleteStep deletes one object, unless something that stays needs it.
func (m *Manager) deleteStep(ctx context.Context, deps *dependencies, ch diff.Change, opts PruneOptions) Pruned {
	if why := deps.keptFor(ch.ID()); why != "" {
		deps.stays(ch.ID(), nil, why)
		return Pruned{Change: ch, State: NotAttempted, Reason: why}
	}
	p := m.deleteObject(ctx, ch, opts)
	if p.stays() {
		deps.stays(ch.ID(), nil, "its deletion failed")
	}
	return p
}

// deleteObject deletes the approved object: it reads it, checks it is still
// the approved object (uid) with the approved content (digest), and deletes
// it with uid and resourceVersion preconditions, reading again if status
// moved in between. Then it waits a while for it to disappear and names the
// finalizers holding it if not.
func (m *Manager) deleteObject(ctx context.Context, ch diff.Change, opts PruneOptions) Pruned {
	done := Pruned{Change: ch, State: Removed}
	res, err := m.clients.Resource(schema.FromAPIVersionAndKind(ch.APIVersion, ch.Kind), ch.Namespace)
	if err != nil {
		return failed(done, err)
	}
	uid := types.UID(ch.UID)
	gone := false
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live, err := res.Get(ctx, ch.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) || (err == nil && live.GetUID() != uid):
			gone = true
			return nil
		case err != nil:
			return err
		case live.GetDeletionTimestamp() != nil:
			return nil
		case diff.ContentDigest(live) != ch.Digest:
			return fmt.Errorf("changed since the plan was approved (outside its status), not deleted; make a new plan")
		}
		rv, err := m.markDeleting(ctx, res, live, opts.Fence)
		if err != nil {
			return err
		}
		bg := metav1.DeletePropagationBackground
		return res.Delete(ctx, ch.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}, PropagationPolicy: &bg})
	})
	switch {
	case apierrors.IsNotFound(err):
		gone = true
	case err != nil:
		return failed(done, fmt.Errorf("%s: delete: %w", ch.ID(), err))
	}
	if gone {
		done.State = AlreadyGone
		return done
	}
	var last *unstructured.Unstructured
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, opts.Terminating, true, func(ctx context.Context) (bool, error) {
		u, err := res.Get(ctx, ch.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) || (err == nil && u.GetUID() != uid):
			return true, nil
		case err == nil:
			last = u
		}
		return false, nil // a failed read is retried until the timeout
	})
	if err != nil && last != nil && len(last.GetFinalizers()) > 0 {
		done.State, done.Finalizers = StillTerminating, last.GetFinalizers()
		return done
	}
	if err != nil {
		return failed(done, fmt.Errorf("%s: deleted, but did not go within %s: %w", ch.ID(), opts.Terminating, err))
	}
	return done
}

// markDeleting writes the run's fence token on live just before its
// delete, conditional on the resourceVersion read, and returns the
// resourceVersion the delete is then conditional on. The fence policy
// refuses the delete of an object whose mark is not the Lease's current
// fence: a run paused between its mark and its delete, while another took
// the Lease, deletes nothing, even when that run had nothing to write to the
// object. Unfenced runs delete without a mark.
func (m *Manager) markDeleting(ctx context.Context, res dynamic.ResourceInterface, live *unstructured.Unstructured, fence Fence) (string, error) {
	token := fence.Token()
	if token == "" {
		return live.GetResourceVersion(), nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"uid": live.GetUID(), "resourceVersion": live.GetResourceVersion(),
		"annotations": map[string]string{inventory.AnnotationDeleting: token},
	}})
	if err != nil {
		return "", err
	}
	marked, err := res.Patch(ctx, live.GetName(), types.MergePatchType, patch, metav1.PatchOptions{FieldManager: inventory.FieldManager})
	if err != nil {
		return "", fmt.Errorf("mark for deletion: %w", err)
	}
	return marked.GetResourceVersion(), nil
}

// failed marks the removal failed with err; the API server's message about
// a Secret is withheld, as in diff and sync.
func failed(p Pruned, err error) Pruned {
	gk := schema.FromAPIVersionAndKind(p.Change.APIVersion, p.Change.Kind).GroupKind()
	p.State, p.Err = Failed, diff.RedactSecret(gk, err)
	return p
}
