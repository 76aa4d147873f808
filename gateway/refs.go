package gateway

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"modelsync.dev/modelsync/tree/manifest"
)

var (
	service     = schema.GroupKind{Kind: "Service"}
	statefulSet = schema.GroupKind{Group: "apps", Kind: "StatefulSet"}
)

// Ref is an object that u (or one entry of u's keyed list) points at and
// needs: traffic sent through u reaches it.
type Ref struct {
	// Entry is the key of the entry holding the reference, "" for the object.
	Entry string
	ID    manifest.ID
}

// Refs lists what u points at along the serving path: a route rule at its
// backends, an AIServiceBackend at its Backend, a Backend at the Service
// its FQDN names, a StatefulSet at its governing Service, a policy at its
// targets (a traffic policy's HTTPRoute is the AIGatewayRoute of that name).
// Malformed references are skipped; validation reports them.
func Refs(u *unstructured.Unstructured) []Ref {
	gvk := u.GroupVersionKind()
	ns := u.GetNamespace()
	var out []Ref
	add := func(entry string, m map[string]any, gk schema.GroupKind) {
		if id, ok := refTo(m, ns, gk.Group, gk.Kind); ok {
			out = append(out, Ref{Entry: entry, ID: id})
		}
	}
	switch gvk.GroupKind() {
	case Route:
		for _, it := range Items(u) {
			for _, ref := range maps(it.Value["backendRefs"]) {
				add(it.Key, ref, ServiceBackend)
			}
		}
	case ServiceBackend:
		if ref, ok := nested(u.Object, "spec", "backendRef"); ok {
			add("", ref, Backend)
		}
	case SecurityPolicy, TrafficPolicy:
		for _, it := range Items(u) {
			add(it.Key, it.Value, schema.GroupKind{})
		}
	case Backend:
		spec, _ := nested(u.Object, "spec")
		for _, ep := range maps(spec["endpoints"]) {
			fqdn, _ := ep["fqdn"].(map[string]any)
			host, _ := fqdn["hostname"].(string)
			if svc, rest, ok := strings.Cut(host, "."); ok && strings.HasPrefix(rest, ns+".svc") {
				add("", map[string]any{"name": svc}, service)
			}
		}
	case statefulSet:
		if name, _, _ := unstructured.NestedString(u.Object, "spec", "serviceName"); name != "" {
			add("", map[string]any{"name": name}, service)
		}
	}
	return out
}

// refTo is the object a reference (name, optional group and kind, else
// the defaults) names in namespace ns.
func refTo(m map[string]any, ns, group, kind string) (manifest.ID, bool) {
	name, _ := m["name"].(string)
	if name == "" {
		return manifest.ID{}, false
	}
	if g, ok := m["group"].(string); ok {
		group = g
	}
	if k, ok := m["kind"].(string); ok && k != "" {
		kind = k
	}
	if group == HTTPRoute.Group && kind == HTTPRoute.Kind {
		group, kind = Route.Group, Route.Kind // the route generates the HTTPRoute of its name
	}
	return manifest.ID{Group: group, Kind: kind, Namespace: ns, Name: name}, true
}

// maps are the map entries of a list value; anything else is skipped.
func maps(v any) []map[string]any {
	list, _ := v.([]any)
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// nested is the map at path, if every step is a map.
func nested(obj map[string]any, path ...string) (map[string]any, bool) {
	cur := obj
	for _, p := range path {
		next, ok := cur[p].(map[string]any)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}
