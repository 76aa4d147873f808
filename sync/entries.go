package sync

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/tree/manifest"
)

// entryWrite is the one write that removes the approved entries of a shared
// object, and takes the entries waiting to move in from a route shard this
// prune deletes (so the model stays routed).
type entryWrite struct {
	owner  diff.Change
	remove []diff.Change
	moveIn []moveIn
}

// moveIn is a live entry of a shard the prune deletes, that the tree puts in
// the owner.
type moveIn struct {
	from manifest.ID
	item gateway.Item
}

func (w entryWrite) keys() []string {
	out := make([]string, len(w.remove))
	for i, ch := range w.remove {
		out[i] = ch.Item.Key
	}
	return out
}

func (w entryWrite) from() []manifest.ID {
	var out []manifest.ID
	for _, m := range w.moveIn {
		out = append(out, m.from)
	}
	return out
}

// entryWrites groups the approved entry removals by owner, with the moves
// into each owner from the shards approved for deletion.
func entryWrites(todo []diff.Change, res *diff.Result) []entryWrite {
	byOwner := map[manifest.ID]*entryWrite{}
	var order []manifest.ID
	owner := func(ch diff.Change) *entryWrite {
		id := ch.ID()
		if byOwner[id] == nil {
			ch.Item, ch.Digest = nil, ""
			byOwner[id] = &entryWrite{owner: ch}
			order = append(order, id)
		}
		return byOwner[id]
	}
	deleted := map[manifest.ID]bool{}
	for _, ch := range todo {
		switch ch.Action {
		case diff.PruneItem:
			w := owner(ch)
			w.remove = append(w.remove, ch)
		case diff.Prune:
			deleted[ch.ID()] = true
		}
	}
	live := map[manifest.ID]*unstructured.Unstructured{}
	for i := range res.Members {
		live[manifest.IDOf(&res.Members[i])] = &res.Members[i]
	}
	for _, p := range res.Predictions {
		for _, m := range p.Moves {
			from := p.Object.ID()
			from.Name = m.From
			giver := live[from]
			if m.Gives() || p.Live == nil || !deleted[from] || giver == nil {
				continue
			}
			for _, it := range gateway.Items(giver) {
				if it.Key == m.Item.Key {
					ch := diff.Change{Action: diff.PruneItem, APIVersion: p.Live.GetAPIVersion(), Kind: p.Live.GetKind(),
						Namespace: p.Live.GetNamespace(), Name: p.Live.GetName(), UID: string(p.Live.GetUID())}
					w := owner(ch)
					w.moveIn = append(w.moveIn, moveIn{from: from, item: it})
				}
			}
		}
	}
	out := make([]entryWrite, len(order))
	for i, id := range order {
		out[i] = *byOwner[id]
	}
	return out
}

// removeEntries writes the live owner minus the approved entries (plus the
// entries moving in), as modelsync's configuration of it read back from the
// live object: nothing the tree adds since, nothing another manager owns.
// The write is conditional on the resourceVersion read; a controller's
// status write in between makes it read and check again.
func (m *Manager) removeEntries(ctx context.Context, w entryWrite, fence Fence) Pruned {
	p := Pruned{Change: w.owner, State: Removed}
	for _, ch := range w.remove {
		p.Entries = append(p.Entries, ch.Item.Noun+" "+ch.Item.Key)
	}
	var parts []string
	if len(p.Entries) > 0 {
		parts = append(parts, "removed "+strings.Join(p.Entries, ", "))
	}
	for _, m := range w.moveIn {
		parts = append(parts, "took "+m.item.Noun+" "+m.item.Key+" from "+m.from.Name)
	}
	p.Change.Message = strings.Join(parts, "; ")
	gone := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live, err := m.getApplied(ctx, w.owner)
		switch {
		case apierrors.IsNotFound(err) || (err == nil && (string(live.GetUID()) != w.owner.UID || live.GetDeletionTimestamp() != nil)):
			gone = true
			return nil
		case err != nil:
			return err
		}
		keep, changed, err := w.apply(gateway.Items(live))
		if err != nil || !changed {
			gone = err == nil
			return err
		}
		cfg, err := ownedConfig(live)
		if err != nil {
			return err
		}
		if err := gateway.SetItems(cfg, keep); err != nil {
			return err
		}
		cfg.SetResourceVersion(live.GetResourceVersion())
		_, err = m.apply(ctx, cfg, fence)
		return err
	})
	if err != nil {
		return failed(p, fmt.Errorf("%s: remove %s: %w", w.owner.ID(), strings.Join(p.Entries, ", "), err))
	}
	if gone {
		p.State = AlreadyGone
	}
	return p
}

// apply is the owner's list after the write: the live entries without the
// approved ones, each checked to be the approved entry, and with the entries
// moving in. changed is false when there is nothing left to do.
func (w entryWrite) apply(live []gateway.Item) ([]gateway.Item, bool, error) {
	remove := map[string]diff.Change{}
	for _, ch := range w.remove {
		remove[ch.Item.Key] = ch
	}
	var keep []gateway.Item
	changed := false
	have := map[string]bool{}
	for _, it := range live {
		if ch, ok := remove[it.Key]; ok {
			if diff.EntryDigest(it.Value) != ch.Digest {
				return nil, false, fmt.Errorf("%s %s changed since the plan was approved; make a new plan", it.Noun, it.Key)
			}
			changed = true
			continue
		}
		have[it.Key] = true
		keep = append(keep, it)
	}
	for _, m := range w.moveIn {
		if !have[m.item.Key] {
			keep = append(keep, m.item)
			changed = true
		}
	}
	return keep, changed, nil
}

// getApplied reads the object in the version modelsync applied it in, so
// that its managedFields describe the fields as read. When the API server no
// longer serves that version (a CRD withdrew it), the object is read in the
// plan's version: a CRD converts between its versions without changing the
// fields' paths unless a webhook converts it, and a removal must not wait
// for a version that will never be served again. The write that follows
// moves modelsync's entry to the served version.
func (m *Manager) getApplied(ctx context.Context, ch diff.Change) (*unstructured.Unstructured, error) {
	live, err := m.getAt(ctx, ch, ch.APIVersion)
	if err != nil {
		return nil, err
	}
	entry, ok := inventory.ApplyEntry(live)
	if !ok || entry.APIVersion == live.GetAPIVersion() {
		return live, nil
	}
	at, err := m.getAt(ctx, ch, entry.APIVersion)
	switch {
	case err == nil && at.GetAPIVersion() == entry.APIVersion:
		return at, nil
	case err == nil:
		return nil, fmt.Errorf("%s: read in the version modelsync applied it in (%s): the API server answered in %s", ch.ID(), entry.APIVersion, at.GetAPIVersion())
	case meta.IsNoMatchError(err) || apierrors.IsNotFound(err):
		// Not served, or gone since: read again in the served version.
		if live, err = m.getAt(ctx, ch, live.GetAPIVersion()); err != nil {
			return nil, err
		}
		return entryAtServedVersion(live), nil
	}
	return nil, err
}

// entryAtServedVersion is live with modelsync's apply entry taken as of
// live's version, the version served: its fields are read at the paths the
// served version has.
func entryAtServedVersion(live *unstructured.Unstructured) *unstructured.Unstructured {
	live = live.DeepCopy()
	entries := live.GetManagedFields()
	for i, mf := range entries {
		if mf.Manager == inventory.FieldManager && mf.Operation == metav1.ManagedFieldsOperationApply && mf.Subresource == "" {
			entries[i].APIVersion = live.GetAPIVersion()
		}
	}
	live.SetManagedFields(entries)
	return live
}

// getAt reads ch's object in apiVersion.
func (m *Manager) getAt(ctx context.Context, ch diff.Change, apiVersion string) (*unstructured.Unstructured, error) {
	res, err := m.clients.Resource(schema.FromAPIVersionAndKind(apiVersion, ch.Kind), ch.Namespace)
	if err != nil {
		return nil, err
	}
	return res.Get(ctx, ch.Name, metav1.GetOptions{})
}
