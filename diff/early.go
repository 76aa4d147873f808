package diff

import (
	"context"
	gosync "sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/cluster"
	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/inventory"
)

// early is what Start read before the tree was loaded.
type early struct {
	done   chan struct{}
	op     *cluster.Operation
	ctx    context.Context
	cancel context.CancelFunc
	parent inventory.Parent
	err    error
	// heads are the members' metadata of the kinds the parent records
	// that may be listed so (headKind), whole those of the others but
	// Secrets; each kind at the server's preferred version.
	heads, whole map[schema.GroupVersionKind][]unstructured.Unstructured
}

// Start begins reading, while the caller loads the tree, what a plan of the
// namespace reads whatever the tree holds: the inventory's parent and, by
// their metadata, the members of the kinds it records. Plan takes from it
// what still fits the tree (a kind the tree writes in another version is
// listed again) and reads the rest itself. Calling Start is optional; call
// it at most once, before Plan, and Stop once the plan is made or given up.
func (d *Differ) Start(ctx context.Context) {
	e := &early{done: make(chan struct{}), heads: map[schema.GroupVersionKind][]unstructured.Unstructured{}, whole: map[schema.GroupVersionKind][]unstructured.Unstructured{}}
	e.ctx, e.cancel = context.WithCancel(ctx)
	e.ctx, e.op = cluster.Track(e.ctx)
	d.early = e
	go func() {
		defer close(e.done)
		if e.parent, e.err = d.inv.Parent(e.ctx); e.err != nil {
			return
		}
		heads := len(e.parent.Verified) > 0 && !d.opts.Full && !d.opts.WholeMembers
		var mu gosync.Mutex
		var wg gosync.WaitGroup
		for _, gk := range e.parent.GroupKinds {
			if isSecretKind(gk) {
				continue
			}
			wg.Go(func() {
				gvk, err := d.r.Preferred(gk)
				if err != nil {
					return
				}
				list, into := d.inv.Members, e.whole
				if heads && headKind(gk) {
					list, into = func(ctx context.Context, kinds []schema.GroupVersionKind, _ []string, limit int) ([]unstructured.Unstructured, error) {
						return d.inv.Heads(ctx, kinds, limit)
					}, e.heads
				}
				items, err := list(e.ctx, []schema.GroupVersionKind{gvk}, nil, 1)
				if err != nil {
					return // Plan lists it again
				}
				mu.Lock()
				into[gvk] = items
				mu.Unlock()
			})
		}
		wg.Wait()
	}()
}

// headKind is whether a kind's members may be listed by their metadata
// first: not Secrets (read by name, never listed), not the shared objects
// whose live entries a plan keeps, not ConfigMaps (a catalogue keeps live
// entries too).
func headKind(gk schema.GroupKind) bool {
	if isSecretKind(gk) || gk.Group == "" && gk.Kind == "ConfigMap" {
		return false
	}
	for _, l := range gateway.ItemLists {
		if l.Group == gk.Group && l.Kind == gk.Kind {
			return false
		}
	}
	return true
}

// listed is what Start listed of gvk, by metadata (heads) or whole, if it
// did; an empty version is the preferred one, which Start lists.
func (e *early) listed(heads bool, gvk schema.GroupVersionKind) ([]unstructured.Unstructured, bool) {
	if e == nil {
		return nil, false
	}
	lists := e.whole
	if heads {
		lists = e.heads
	}
	for listed, items := range lists {
		if listed == gvk || gvk.Version == "" && listed.GroupKind() == gvk.GroupKind() {
			return items, true
		}
	}
	return nil, false
}

// Stop ends what Start began, if it still runs (the tree failed to load and
// no plan is made), and returns once it has: nothing Start began outlives
// the caller.
func (d *Differ) Stop() {
	if d.early != nil {
		d.early.cancel()
		<-d.early.done
	}
}

// started is what Start read, once it is done; nil without Start.
func (d *Differ) started() *early {
	if d.early == nil {
		return nil
	}
	<-d.early.done
	return d.early
}
