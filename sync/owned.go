package sync

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"modelsync.dev/modelsync/inventory"
)

// ownedConfig is the configuration modelsync holds in live, read back from
// live's managedFields: the fields of modelsync's server-side apply entry,
// with their live values. Applying it again changes nothing and releases
// nothing; applying it with one entry less removes exactly that entry. It
// is what a prune writes, so a prune never carries the tree's additions.
func ownedConfig(live *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	mf, ok := inventory.ApplyEntry(live)
	if !ok || mf.FieldsV1 == nil {
		return nil, fmt.Errorf("modelsync holds no field of it (no %s apply entry in managedFields)", inventory.FieldManager)
	}
	if mf.APIVersion != live.GetAPIVersion() {
		return nil, fmt.Errorf("modelsync applied it as %s, read as %s", mf.APIVersion, live.GetAPIVersion())
	}
	var set map[string]any
	if err := json.Unmarshal(mf.FieldsV1.Raw, &set); err != nil {
		return nil, fmt.Errorf("managedFields of %s: %w", inventory.FieldManager, err)
	}
	obj, _ := extract(runtime.DeepCopyJSON(live.Object), set).(map[string]any)
	if obj == nil {
		obj = map[string]any{}
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetAPIVersion(live.GetAPIVersion())
	u.SetKind(live.GetKind())
	u.SetName(live.GetName())
	u.SetNamespace(live.GetNamespace())
	return u, nil
}

// extract keeps the parts of v that the field set (FieldsV1: "f:<field>",
// "k:<keys>", "v:<value>", "i:<index>", ".") names. An empty set owns the
// whole value (a scalar, or an atomic list or map).
func extract(v any, set map[string]any) any {
	if len(set) == 0 {
		return v
	}
	switch val := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, sub := range set {
			name, ok := strings.CutPrefix(k, "f:")
			if !ok {
				continue
			}
			if child, present := val[name]; present {
				subset, _ := sub.(map[string]any)
				out[name] = extract(child, subset)
			}
		}
		return out
	case []any:
		out := []any{}
		for i, el := range val {
			if subset, keys, ok := elementSet(set, el, i); ok {
				var kept any = map[string]any{} // the element itself and none of its fields: its keys only
				if fields := withoutDot(subset); len(fields) > 0 || len(subset) == 0 {
					kept = extract(el, fields)
				}
				if m, isMap := kept.(map[string]any); isMap {
					for k, v := range keys {
						m[k] = v
					}
				}
				out = append(out, kept)
			}
		}
		return out
	}
	return v
}

// elementSet finds the field set of list element el at index i, and the key
// fields that identify it.
func elementSet(set map[string]any, el any, i int) (map[string]any, map[string]any, bool) {
	for k, sub := range set {
		subset, _ := sub.(map[string]any)
		switch {
		case strings.HasPrefix(k, "k:"):
			var keys map[string]any
			m, isMap := el.(map[string]any)
			if json.Unmarshal([]byte(k[2:]), &keys) != nil || !isMap {
				continue
			}
			if matches(m, keys) {
				return subset, keys, true
			}
		case strings.HasPrefix(k, "v:"):
			if sameJSON(el, json.RawMessage(k[2:])) {
				return nil, nil, true
			}
		case strings.HasPrefix(k, "i:"):
			if n, err := strconv.Atoi(k[2:]); err == nil && n == i {
				return subset, nil, true
			}
		}
	}
	return nil, nil, false
}

func matches(m, keys map[string]any) bool {
	for k, want := range keys {
		if !sameJSON(m[k], want) {
			return false
		}
	}
	return true
}

func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if raw, ok := b.(json.RawMessage); ok {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return false
		}
		jb, errB = json.Marshal(v)
	}
	return errA == nil && errB == nil && string(ja) == string(jb)
}

func withoutDot(set map[string]any) map[string]any {
	if _, ok := set["."]; !ok {
		return set
	}
	out := make(map[string]any, len(set))
	for k, v := range set {
		if k != "." {
			out[k] = v
		}
	}
	return out
}
