package gateway

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"modelsync.dev/modelsync/tree/manifest"
)

// Shared objects hold list entries that belong to different models: the rules
// of an AIGatewayRoute and the targetRefs of a policy. Removing one entry is a
// change of its own (a prune-item), so each entry needs a stable key.

// ItemList names a list of keyed entries inside a shared object.
type ItemList struct {
	Group, Kind string
	// Path to the list, e.g. spec.rules.
	Path []string
	// Noun is what one entry is called in plans: "rule", "targetRef".
	Noun string
	// Max is the most entries the API server accepts, 0 for no limit.
	Max int
	// Key returns an entry's identity within the list.
	Key func(entry map[string]any) string
}

// Item is one keyed entry of a shared object.
type Item struct {
	Noun  string
	Key   string
	Value map[string]any
}

// ItemLists are the lists modelsync tracks entry by entry.
var ItemLists = []ItemList{
	{Group: Route.Group, Kind: Route.Kind, Path: []string{"spec", "rules"}, Noun: NounRule, Key: RuleKey, Max: MaxRouteRules},
	{Group: SecurityPolicy.Group, Kind: SecurityPolicy.Kind, Path: []string{"spec", "targetRefs"}, Noun: NounTargetRef, Key: TargetRefKey},
	{Group: TrafficPolicy.Group, Kind: TrafficPolicy.Kind, Path: []string{"spec", "targetRefs"}, Noun: NounTargetRef, Key: TargetRefKey},
}

// ShapeError is an entry of a tracked list (or a list inside a route's
// rule) that is not an object, or a list value that is not a list: such
// entries have no key and would be dropped, or sent, without a word.
type ShapeError struct {
	// Path locates it in the object (list indexes as numbers).
	Path []string
	Msg  string
}

// ruleLists are the lists inside a route rule whose entries must be
// objects, and what one entry is called.
var ruleLists = []struct{ field, noun string }{{"backendRefs", "backendRef"}, {"matches", "match"}}

// ShapeErrors describes the shape errors of u's tracked list and, for a
// route, of the lists inside its rules.
func ShapeErrors(u *unstructured.Unstructured) []ShapeError {
	l, ok := ItemListFor(u)
	if !ok {
		return nil
	}
	v, found, _ := unstructured.NestedFieldNoCopy(u.Object, l.Path...)
	if !found || v == nil {
		return nil
	}
	out := listShape(l.Path, v, l.Noun)
	if l.Noun != NounRule {
		return out
	}
	list, _ := v.([]any)
	for i, e := range list {
		rule, ok := e.(map[string]any)
		if !ok {
			continue
		}
		for _, f := range ruleLists {
			if v, ok := rule[f.field]; ok && v != nil {
				path := append(append(append([]string(nil), l.Path...), strconv.Itoa(i)), f.field)
				out = append(out, listShape(path, v, f.noun)...)
			}
		}
	}
	return out
}

func listShape(path []string, v any, noun string) []ShapeError {
	list, isList := v.([]any)
	if !isList {
		return []ShapeError{{path, fmt.Sprintf("%s is %s, not a list of %s", dotted(path), kindOf(v), path[len(path)-1])}}
	}
	var out []ShapeError
	for i, e := range list {
		if _, ok := e.(map[string]any); !ok {
			at := append(append([]string(nil), path...), strconv.Itoa(i))
			out = append(out, ShapeError{at, fmt.Sprintf("%s[%d] is %s, not a %s (an object)", dotted(path), i, kindOf(e), noun)})
		}
	}
	return out
}

// dotted writes a path as spec.rules[2].backendRefs.
func dotted(path []string) string {
	var b strings.Builder
	for i, p := range path {
		if _, err := strconv.Atoi(p); err == nil {
			b.WriteString("[" + p + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// ItemListFor returns the tracked list of u's kind, if it has one.
func ItemListFor(u *unstructured.Unstructured) (ItemList, bool) {
	gvk := u.GroupVersionKind()
	for _, l := range ItemLists {
		if l.Group == gvk.Group && l.Kind == gvk.Kind {
			return l, true
		}
	}
	return ItemList{}, false
}

// Items returns the keyed entries of u's tracked list, in order. A Value is
// u's own entry, not a copy (reading a route's rules is frequent, copying
// them was costly): read it, or copy it before changing it. SetItems copies
// what it is given, so handing one object's entries to another is safe.
func Items(u *unstructured.Unstructured) []Item {
	l, ok := ItemListFor(u)
	if !ok {
		return nil
	}
	field, _, _ := unstructured.NestedFieldNoCopy(u.Object, l.Path...)
	raw, _ := field.([]any)
	out := make([]Item, 0, len(raw))
	for _, e := range raw {
		if m, ok := e.(map[string]any); ok {
			out = append(out, Item{Noun: l.Noun, Key: l.Key(m), Value: m})
		}
	}
	return out
}

// SetItems replaces u's tracked list with a copy of items.
func SetItems(u *unstructured.Unstructured, items []Item) error {
	l, ok := ItemListFor(u)
	if !ok {
		return fmt.Errorf("%s has no keyed list", manifest.IDOf(u))
	}
	raw := make([]any, len(items))
	for i, it := range items {
		raw[i] = it.Value
	}
	return unstructured.SetNestedSlice(u.Object, raw, l.Path...)
}

// RuleKey identifies a route rule by the model it matches: the value of its
// x-ai-eg-model header match, else its name, else its first backend.
func RuleKey(rule map[string]any) string {
	for _, m := range maps(rule["matches"]) {
		for _, h := range maps(m["headers"]) {
			if h["name"] == ModelHeader {
				if v, ok := h["value"].(string); ok {
					return v
				}
			}
		}
	}
	if n, ok := rule["name"].(string); ok && n != "" {
		return n
	}
	for _, ref := range maps(rule["backendRefs"]) {
		if n, ok := ref["name"].(string); ok {
			return "backend:" + n
		}
	}
	return "(unkeyed rule)"
}

// TargetRefID is the object a policy's targetRef key (TargetRefKey) names:
// a traffic policy's HTTPRoute is the AIGatewayRoute of that name.
func TargetRefID(key, namespace string) (manifest.ID, bool) {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) != 3 || parts[2] == "" {
		return manifest.ID{}, false
	}
	return refTo(map[string]any{"group": parts[0], "kind": parts[1], "name": parts[2]}, namespace, "", "")
}

// TargetRefKey identifies a targetRef by group/kind/name.
func TargetRefKey(ref map[string]any) string {
	g, _ := ref["group"].(string)
	k, _ := ref["kind"].(string)
	n, _ := ref["name"].(string)
	return g + "/" + k + "/" + n
}

// kindOf names a YAML value's kind as a user wrote it.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, float64, int:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
