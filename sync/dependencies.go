package sync

import (
	"slices"
	gosync "sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/manifest"
)

// dependencies tracks, during one prune, which objects must stay because
// something that stays still points at them: a route whose rule could not
// be removed keeps its AIServiceBackend, that its Backend, that its Service,
// and the Service the workload it serves. Prune walks kinds from the
// referring to the referred (reverse apply order), so a failure is known
// before anything it needs comes up for deletion.
type dependencies struct {
	refs   map[manifest.ID][]gateway.Ref
	serves map[manifest.ID][]manifest.ID

	mu   gosync.Mutex
	kept map[manifest.ID]string
}

func newDependencies(members []unstructured.Unstructured) *dependencies {
	d := &dependencies{refs: map[manifest.ID][]gateway.Ref{}, serves: map[manifest.ID][]manifest.ID{}, kept: map[manifest.ID]string{}}
	var services []*unstructured.Unstructured
	for i := range members {
		m := &members[i]
		d.refs[manifest.IDOf(m)] = gateway.Refs(m)
		if m.GetAPIVersion() == "v1" && m.GetKind() == "Service" {
			services = append(services, m)
		}
	}
	for _, svc := range services {
		selector, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
		if len(selector) == 0 {
			continue
		}
		for i := range members {
			if w := &members[i]; selects(selector, w) {
				d.serves[manifest.IDOf(svc)] = append(d.serves[manifest.IDOf(svc)], manifest.IDOf(w))
			}
		}
	}
	return d
}

// selects is whether a Service selector matches a workload's pod template.
func selects(selector map[string]string, w *unstructured.Unstructured) bool {
	if w.GetAPIVersion() != "apps/v1" || (w.GetKind() != "StatefulSet" && w.GetKind() != "Deployment" && w.GetKind() != "DaemonSet") {
		return false
	}
	labels, _, _ := unstructured.NestedStringMap(w.Object, "spec", "template", "metadata", "labels")
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// stays records that id (all of it when entries is nil, else those entries)
// stays, for why: everything it points at stays too.
func (d *dependencies) stays(id manifest.ID, entries []string, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.refs[id] {
		if entries == nil || slices.Contains(entries, r.Entry) {
			d.keep(r.ID, why)
		}
	}
}

// mustStay records that id itself stays, for why.
func (d *dependencies) mustStay(id manifest.ID, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keep(id, why)
}

func (d *dependencies) keep(id manifest.ID, why string) {
	if _, ok := d.kept[id]; ok {
		return
	}
	d.kept[id] = why
	because := "needed by " + id.String() + ", which stays"
	for _, r := range d.refs[id] {
		d.keep(r.ID, because)
	}
	for _, w := range d.serves[id] {
		d.keep(w, because)
	}
}

// keptFor says why id must stay, "" when nothing that stays needs it.
func (d *dependencies) keptFor(id manifest.ID) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.kept[id]
}
