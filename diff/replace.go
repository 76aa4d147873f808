package diff

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/workload"
)

// statefulSetMutable are the spec fields the API server lets a StatefulSet
// change; any other is immutable.
var statefulSetMutable = []string{"replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy", "minReadySeconds", "revisionHistoryLimit"}

// immutable reads a refused dry-run: the fields it says cannot change in
// place, or nil when the refusal is of another kind. A StatefulSet's refusal
// names only "spec", so its fields are found by comparing applied and live.
func immutable(err error, applied, live *unstructured.Unstructured) []string {
	var status apierrors.APIStatus
	if live == nil || !apierrors.IsInvalid(err) || !errors.As(err, &status) || status.Status().Details == nil {
		return nil
	}
	var fields []string
	for _, c := range status.Status().Details.Causes {
		msg := strings.ToLower(c.Message)
		switch {
		case c.Type == metav1.CauseType(field.ErrorTypeForbidden) && c.Field == "spec" && live.GetKind() == "StatefulSet":
			fields = append(fields, changedOutside(applied, live, statefulSetMutable)...)
		case strings.Contains(msg, "immutable") || strings.Contains(msg, "may not change once set") || strings.Contains(msg, "cannot be changed"):
			f, _, _ := strings.Cut(c.Field, "[")
			fields = append(fields, f)
		default:
			return nil // refused for another reason: an error, not a replace
		}
	}
	sort.Strings(fields)
	return slices.Compact(fields)
}

// changedOutside lists spec.<field> for the fields applied sets to another
// value than live has, outside the mutable ones.
func changedOutside(applied, live *unstructured.Unstructured, mutable []string) []string {
	want, _, _ := unstructured.NestedMap(applied.Object, "spec")
	have, _, _ := unstructured.NestedMap(live.Object, "spec")
	var out []string
	for k, v := range want {
		if slices.Contains(mutable, k) {
			continue
		}
		// Semantic.DeepDerivative ignores what want leaves unset: have
		// may carry the server's defaults.
		if !equality.Semantic.DeepDerivative(v, have[k]) {
			out = append(out, "spec."+k)
		}
	}
	if len(out) == 0 {
		out = []string{"spec"}
	}
	return out
}

// replace turns p into a replacement of its live object: bound, like a
// prune, to the live object's uid and content.
func replace(p Prediction, fields []string) Prediction {
	live := p.Live
	p.Change.Action = Replace
	p.Change.UID, p.Change.ResourceVersion, p.Change.Digest = string(live.GetUID()), live.GetResourceVersion(), ContentDigest(live)
	p.Change.Immutable = fields
	p.Change.Diff = fieldsDiff(live, p.Applied, fields)
	p.Change.Message = fmt.Sprintf("cannot change in place (%s): sync leaves it; the approved prune deletes it and creates it again (%s)",
		strings.Join(fields, ", "), consequence(live, p.Applied))
	return p
}

// consequence says what a replacement does to what runs.
func consequence(live, applied *unstructured.Unstructured) string {
	switch live.GetKind() {
	case "StatefulSet":
		if slices.Equal(claimNames(live), claimNames(applied)) {
			return "its pods restart; its PersistentVolumeClaims are kept and mounted again"
		}
		return "its pods restart on new, empty PersistentVolumeClaims named after the new templates (weights download again); the old claims are kept until deleted by hand"
	case "Deployment", workload.LeaderWorkerSet.Kind:
		return "its pods restart"
	case "Service":
		return "it gets a new cluster IP; traffic pauses until it is back"
	}
	return "it is missing for a moment"
}

// claimNames are the names of a StatefulSet's volume claim templates.
func claimNames(u *unstructured.Unstructured) []string {
	vcts, _, _ := unstructured.NestedSlice(u.Object, "spec", "volumeClaimTemplates")
	var names []string
	for _, v := range vcts {
		if m, ok := v.(map[string]any); ok {
			n, _, _ := unstructured.NestedString(m, "metadata", "name")
			names = append(names, n)
		}
	}
	return names
}

// fieldsDiff shows the immutable fields only, live → desired: the rest of a
// replacement is the whole object again.
func fieldsDiff(live, applied *unstructured.Unstructured, fields []string) string {
	pick := func(u *unstructured.Unstructured) *unstructured.Unstructured {
		// kind stays, so that a Secret's values are masked as in any diff
		out := &unstructured.Unstructured{Object: map[string]any{"apiVersion": u.GetAPIVersion(), "kind": u.GetKind()}}
		for _, f := range fields {
			path := strings.Split(f, ".")
			if v, ok, _ := unstructured.NestedFieldCopy(u.Object, path...); ok {
				if list, ok := v.([]any); ok { // claim templates carry a status
					for _, e := range list {
						if m, ok := e.(map[string]any); ok {
							delete(m, "status")
						}
					}
				}
				_ = unstructured.SetNestedField(out.Object, v, path...)
			}
		}
		return out
	}
	d, err := compare(pick(live), pick(applied), live.GetKind()+"/"+live.GetName())
	if err != nil {
		return ""
	}
	return d
}

// groupMoves finds the objects the tree moved to another API group (an
// InferencePool from inference.networking.x-k8s.io to
// inference.networking.k8s.io): the member of the old group and the object
// to create in the new one share kind and name. The two are distinct
// objects, so the move is made side by side, as the upstream migration
// guides do it: sync creates the new one while the old one keeps serving,
// and switches what points at it (the route's rule) in the same sync, after
// it exists; the old one is an ordinary removal for the approved prune, once
// nothing points at it. No moment has a reference to a missing object. It
// returns, for each old member, what its removal says.
func groupMoves(preds []Prediction, members []unstructured.Unstructured, desired map[manifest.ID]bool) map[manifest.ID]string {
	type kindName struct{ kind, name string }
	creates := map[kindName]int{}
	for i, p := range preds {
		if p.Change.Action == Create {
			creates[kindName{p.Object.GetKind(), p.Object.GetName()}] = i
		}
	}
	moved := map[manifest.ID]string{}
	for i := range members {
		m := &members[i]
		id := manifest.IDOf(m)
		j, ok := creates[kindName{m.GetKind(), m.GetName()}]
		if desired[id] || !ok || m.GetDeletionTimestamp() != nil {
			continue
		}
		p := &preds[j]
		from, to := m.GroupVersionKind().Group, p.Object.GroupVersionKind().Group
		p.Change.Message = fmt.Sprintf("moves from API group %s to %s: sync creates it in %s beside the %s one, which keeps serving until the approved prune deletes it",
			from, to, to, from)
		moved[id] = fmt.Sprintf("moved to API group %s (sync created it there): deleted once nothing points at the %s one", to, from)
	}
	return moved
}
