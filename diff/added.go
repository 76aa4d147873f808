package diff

import (
	"bytes"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"modelsync.dev/modelsync/inventory"
)

// Fields a person added by hand are drift, like fields a person changed: a
// server-side dry run keeps every field another manager owns, so an env var
// or a nodeSelector added with `kubectl edit` would otherwise never show, and
// stay live. The managers of a person's imperative writes are kubectl's
// (kubectl, kubectl-edit, kubectl-patch, kubectl-client-side-apply, …) and
// before-first-apply (fields older than managed fields), outside the status
// subresource. Controllers (kube-controller-manager writing status, an HPA
// writing replicas, a mutating webhook) are never counted. A manager meant
// to co-own fields is kept by name: the object's annotation
// inventory.AnnotationCoOwners, or Options.KeepManagers for every object.

// Imperative tells the field managers of a person's imperative writes.
func Imperative(mf metav1.ManagedFieldsEntry) bool {
	return mf.Subresource == "" && (mf.Manager == "before-first-apply" || strings.HasPrefix(mf.Manager, "kubectl"))
}

// addedByHand lists the fields of live that an imperative manager owns and
// the configuration does not set (each with its manager), and those
// managers, unless kept. What the configuration sets is modelsync's in the
// dry run's prediction: a field a hand edit changed is a conflict, not an
// addition.
func addedByHand(live, predicted, applied *unstructured.Unstructured, keep []string) (fields, managers []string) {
	if live == nil {
		return nil, nil
	}
	for _, m := range strings.Split(applied.GetAnnotations()[inventory.AnnotationCoOwners], ",") {
		keep = append(keep, strings.TrimSpace(m))
	}
	ours := &fieldpath.Set{}
	entries := live.GetManagedFields()
	for _, mf := range entries {
		if mf.Manager == inventory.FieldManager && mf.Subresource == "" {
			ours = ours.Union(fieldSet(mf.FieldsV1))
		}
	}
	if predicted != nil {
		for _, mf := range predicted.GetManagedFields() {
			if mf.Manager == inventory.FieldManager && mf.Subresource == "" {
				ours = ours.Union(fieldSet(mf.FieldsV1))
			}
		}
	}
	for _, mf := range entries {
		if !Imperative(mf) || slices.Contains(keep, mf.Manager) {
			continue
		}
		owned := fieldSet(mf.FieldsV1)
		added := owned.Difference(ours)
		added = added.Difference(fieldpath.NewSet(fieldpath.MakePathOrDie("metadata", "annotations", "kubectl.kubernetes.io/last-applied-configuration")))
		var found []string
		for _, p := range topmost(added) {
			// A map or list whose every entry is owned elsewhere (the
			// annotations around kubectl's own) is not a field added.
			if !extended(added, p) && extended(owned, p) {
				continue
			}
			found = append(found, p+" added by "+mf.Manager)
		}
		if len(found) == 0 {
			continue
		}
		fields = append(fields, found...)
		if !slices.Contains(managers, mf.Manager) {
			managers = append(managers, mf.Manager)
		}
	}
	sort.Strings(fields)
	return fields, managers
}

func fieldSet(f *metav1.FieldsV1) *fieldpath.Set {
	s := &fieldpath.Set{}
	if f != nil && len(f.Raw) > 0 {
		_ = s.FromJSON(bytes.NewReader(f.Raw)) // unreadable: nothing counted
	}
	return s
}

// extended is whether s holds a path inside p.
func extended(s *fieldpath.Set, p string) bool {
	found := false
	s.Iterate(func(q fieldpath.Path) {
		if qs := q.String(); !found && len(qs) > len(p) && strings.HasPrefix(qs, p) && (qs[len(p)] == '.' || qs[len(p)] == '[') {
			found = true
		}
	})
	return found
}

// topmost are the paths of s that no other path of s contains: the env var
// added, not each of its fields.
func topmost(s *fieldpath.Set) []string {
	var all []string
	s.Iterate(func(p fieldpath.Path) { all = append(all, p.String()) })
	sort.Strings(all)
	var out []string
	for _, p := range all {
		if n := len(out); n > 0 {
			q := out[n-1]
			if strings.HasPrefix(p, q) && len(p) > len(q) && (p[len(q)] == '.' || p[len(q)] == '[') {
				continue
			}
		}
		out = append(out, p)
	}
	return out
}
