package diff

import (
	"context"
	"fmt"
	gosync "sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/internal/parallel"
	"modelsync.dev/modelsync/inventory"
	"modelsync.dev/modelsync/tree/desired"
	"modelsync.dev/modelsync/tree/manifest"
)

// listed is the set's live members as a plan reads them.
type listed struct {
	members []unstructured.Unstructured
	// vouched are the members read by their metadata only, which the
	// record vouches for by their stamp.
	vouched map[manifest.ID]vouched
}

// vouched is a member the record vouches for: what sync would apply to it,
// and the record's entry for it.
type vouched struct {
	applied *unstructured.Unstructured
	entry   string
}

// readWholeAtOnce is how many members of one kind, read by their metadata
// first, a plan still reads whole one by one; above it, it lists the kind
// whole again.
const readWholeAtOnce = 16

// members lists the set's live members. The kinds of the tree whose
// objects are each what their tree says (no entries kept from the live
// object, no catalogue) are listed by their metadata first when the last
// sync left a record: most of their members are still at the
// resourceVersion the record stamped, and need no more. The rest, and the
// members the tree no longer has (a prune reads them), are read whole.
// What Start listed already is taken from e.
func (d *Differ) members(ctx context.Context, set *desired.Set, parent inventory.Parent, e *early) (listed, error) {
	var secrets []string
	for _, o := range set.Objects {
		if isSecretKind(o.GroupVersionKind().GroupKind()) {
			secrets = append(secrets, o.GetName())
		}
	}
	heads := d.headKinds(set, parent)
	tree := treeVersions(set)
	var whole, byHead []schema.GroupVersionKind
	var got, metadata []unstructured.Unstructured
	seen := map[schema.GroupKind]bool{}
	for _, gvk := range append(tree, inventory.Kinds(parent.GroupKinds)...) {
		gk := gvk.GroupKind()
		if seen[gk] {
			continue // listed in the version the tree writes it in
		}
		seen[gk] = true
		if heads[gk] {
			if items, ok := e.listed(true, gvk); ok {
				metadata = append(metadata, items...)
			} else {
				byHead = append(byHead, gvk)
			}
			continue
		}
		if items, ok := e.listed(false, gvk); ok {
			got = append(got, items...)
		} else {
			whole = append(whole, gvk)
		}
	}
	desiredObjects := map[manifest.ID]manifest.Object{}
	for _, o := range set.Objects {
		desiredObjects[o.ID()] = o
	}
	var out listed
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		more, err := d.inv.Members(gctx, whole, append(secrets, parent.Secrets...), d.opts.Concurrency)
		got = append(got, more...)
		return err
	})
	g.Go(func() error {
		if len(byHead) > 0 {
			more, err := d.inv.Heads(gctx, byHead, d.opts.Concurrency)
			if err != nil {
				return err
			}
			metadata = append(metadata, more...)
		}
		out.vouched = d.vouch(metadata, desiredObjects, parent.Verified)
		return nil
	})
	if err := g.Wait(); err != nil {
		return listed{}, err
	}
	out.members = got
	var unsure []*unstructured.Unstructured
	for i := range metadata {
		if _, ok := out.vouched[manifest.IDOf(&metadata[i])]; ok {
			out.members = append(out.members, metadata[i])
		} else {
			unsure = append(unsure, &metadata[i])
		}
	}
	read, err := d.readWhole(ctx, unsure)
	if err != nil {
		return listed{}, err
	}
	out.members = append(out.members, read...)
	return out, nil
}

// vouch finds the heads the record vouches for by their stamp: desired, in
// the version the tree writes them in, and still at the resourceVersion at
// which the last sync saw what it would apply to them hold.
func (d *Differ) vouch(heads []unstructured.Unstructured, desired map[manifest.ID]manifest.Object, verified map[string]string) map[manifest.ID]vouched {
	found := make([]*vouched, len(heads))
	parallel.For(len(heads), func(i int) {
		h := &heads[i]
		o, ok := desired[manifest.IDOf(h)]
		entry := verified[string(h.GetUID())]
		_, want, _ := splitRecord(entry)
		if !ok || want == "" || o.GetAPIVersion() != h.GetAPIVersion() || IsSecret(o.Unstructured) {
			return
		}
		if applied := d.labeled(o); stamp(applied, h) == want {
			found[i] = &vouched{applied: applied, entry: entry}
		}
	})
	out := map[manifest.ID]vouched{}
	for i, v := range found {
		if v != nil {
			out[manifest.IDOf(&heads[i])] = *v
		}
	}
	return out
}

// headKinds are the group-kinds of the tree to list by metadata first.
func (d *Differ) headKinds(set *desired.Set, parent inventory.Parent) map[schema.GroupKind]bool {
	if len(parent.Verified) == 0 || d.opts.Full || d.opts.WholeMembers {
		return nil
	}
	out := map[schema.GroupKind]bool{}
	for _, o := range set.Objects {
		gk := o.GroupVersionKind().GroupKind()
		out[gk] = headKind(gk)
	}
	return out
}

// readWhole reads whole the members heads found by their metadata: one by
// one when they are few, else by listing their kinds whole again. A member
// deleted since, or no longer one, is left out.
func (d *Differ) readWhole(ctx context.Context, heads []*unstructured.Unstructured) ([]unstructured.Unstructured, error) {
	byKind := map[schema.GroupVersionKind][]manifest.ID{}
	for _, h := range heads {
		byKind[h.GroupVersionKind()] = append(byKind[h.GroupVersionKind()], manifest.IDOf(h))
	}
	var out []unstructured.Unstructured
	for gvk, ids := range byKind {
		if len(ids) > readWholeAtOnce {
			wanted := map[manifest.ID]bool{}
			for _, id := range ids {
				wanted[id] = true
			}
			all, err := d.inv.Members(ctx, []schema.GroupVersionKind{gvk}, nil, 1)
			if err != nil {
				return nil, err
			}
			for i := range all {
				if wanted[manifest.IDOf(&all[i])] {
					out = append(out, all[i])
				}
			}
			continue
		}
		read := make([]*unstructured.Unstructured, len(ids))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(d.opts.Concurrency)
		for i, id := range ids {
			g.Go(func() (err error) {
				read[i], err = d.r.Get(gctx, gvk, id.Namespace, id.Name)
				if apierrors.IsNotFound(err) {
					return nil
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		for _, u := range read {
			if u != nil && u.GetLabels()[inventory.LabelPartOf] == d.inv.ID() {
				out = append(out, *u)
			}
		}
	}
	return out, nil
}

// absent finds the desired objects that are not members and do not exist
// at all, so that predict need not read each by name to see whether it
// exists outside the set: a kind with more of them than readWholeAtOnce
// is listed by its metadata instead, all of it in the namespace. Secrets
// are never listed.
func (d *Differ) absent(ctx context.Context, set *desired.Set, live map[manifest.ID]*unstructured.Unstructured) (map[manifest.ID]bool, error) {
	missing := map[schema.GroupVersionKind][]manifest.ID{}
	for _, o := range set.Objects {
		if id := o.ID(); live[id] == nil && !isSecretKind(id.GroupKind()) {
			missing[o.GroupVersionKind()] = append(missing[o.GroupVersionKind()], id)
		}
	}
	out := map[manifest.ID]bool{}
	var mu gosync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(d.opts.Concurrency)
	for gvk, ids := range missing {
		if len(ids) <= readWholeAtOnce {
			continue
		}
		g.Go(func() error {
			all, err := d.r.ListMetadata(gctx, gvk, d.inv.Namespace, "")
			if err != nil {
				return fmt.Errorf("list %s in %s: %w", gvk.GroupKind(), d.inv.Namespace, err)
			}
			exists := map[string]bool{}
			for i := range all {
				exists[all[i].GetName()] = true
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				if !exists[id.Name] {
					out[id] = true
				}
			}
			return nil
		})
	}
	return out, g.Wait()
}
