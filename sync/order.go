package sync

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/diff"
	"modelsync.dev/modelsync/gateway"
)

// order is the apply order of one set's kinds: the table's rank, raised past
// the rank of every kind an object of the set references, so that a kind the
// table does not know (an InferencePool, a LeaderWorkerSet, any CRD) still
// goes after what it points at, and an AIGatewayRoute after the pool it
// sends to. Prune walks it backwards.
type order map[string]int

func newOrder(objs []*unstructured.Unstructured) order {
	o := order{}
	refs := map[string]map[string]bool{}
	for _, u := range objs {
		k := u.GetKind()
		o[k] = gateway.ApplyRank(k)
		if refs[k] == nil {
			refs[k] = map[string]bool{}
		}
		for _, r := range referencesOf(u) {
			refs[k][r] = true
		}
	}
	// Raise until nothing moves; a cycle stops after one pass per kind.
	for range len(o) {
		moved := false
		for k, targets := range refs {
			for t := range targets {
				if r, ok := o[t]; ok && t != k && o[k] <= r {
					o[k], moved = r+1, true
				}
			}
		}
		if !moved {
			break
		}
	}
	return o
}

func (o order) rank(kind string) int {
	if r, ok := o[kind]; ok {
		return r
	}
	return gateway.ApplyRank(kind)
}

// referencesOf lists the kinds u references outside its metadata and status.
func referencesOf(u *unstructured.Unstructured) []string {
	var out []string
	for k, v := range u.Object {
		if k != "metadata" && k != "status" {
			out = append(out, referencedKinds(v)...)
		}
	}
	return out
}

// referencedKinds finds references: any object with a kind and a name
// (backendRefs, targetRefs, roleRef, subjects, endpointPickerRef).
func referencedKinds(v any) []string {
	var out []string
	switch t := v.(type) {
	case map[string]any:
		kind, k := t["kind"].(string)
		_, n := t["name"].(string)
		if k && n {
			out = append(out, kind)
		}
		for _, e := range t {
			out = append(out, referencedKinds(e)...)
		}
	case []any:
		for _, e := range t {
			out = append(out, referencedKinds(e)...)
		}
	}
	return out
}

// orderOf is the order of a plan's kinds: the desired objects and the live
// members, so that removals follow the references they had.
func orderOf(res *diff.Result) order {
	var objs []*unstructured.Unstructured
	for _, p := range res.Predictions {
		objs = append(objs, p.Object.Unstructured)
	}
	for i := range res.Members {
		objs = append(objs, &res.Members[i])
	}
	return newOrder(objs)
}
