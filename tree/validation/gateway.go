package validation

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/manifest"
)

func (c *checker) ofKind(gk schema.GroupKind) []manifest.Object { return c.byKind[gk] }

func backendRefsOf(rule map[string]any) []map[string]any {
	raw, _, _ := unstructured.NestedSlice(rule, "backendRefs")
	out := make([]map[string]any, 0, len(raw))
	for _, r := range raw {
		if m, ok := r.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func checkRouteLimits(c *checker) {
	for _, o := range c.ofKind(gateway.Route) {
		items := gateway.Items(o.Unstructured)
		if len(items) > gateway.MaxRouteRules {
			c.add(Error, "too-many-rules", o.Origin, objectName(o),
				fmt.Sprintf("%d rules; AI Gateway v1.1 allows at most %d per AIGatewayRoute", len(items), gateway.MaxRouteRules),
				"move rules to another AIGatewayRoute, or write them as Models and let modelsync shard the route")
		}
		for _, it := range items {
			if n := len(backendRefsOf(it.Value)); n > gateway.MaxBackendRefsPerRule {
				c.add(Error, "too-many-backends", c.originOf(o, it.Key), objectName(o),
					fmt.Sprintf("rule %s has %d backendRefs; the generated HTTPRoute allows at most %d", it.Key, n, gateway.MaxBackendRefsPerRule),
					"split the round-robin over fewer backends")
			}
		}
	}
}

func checkModelHeaders(c *checker) {
	seen := map[string]string{}
	for _, o := range c.ofKind(gateway.Route) {
		for _, it := range gateway.Items(o.Unstructured) {
			where := c.originOf(o, it.Key)
			if first, dup := seen[it.Key]; dup {
				c.add(Error, "duplicate-model-name", where, objectName(o),
					fmt.Sprintf("model name %q is routed twice (first at %s)", it.Key, first),
					"each x-ai-eg-model value may appear in one rule only; rename one model (spec.served)")
				continue
			}
			seen[it.Key] = where.String()
		}
	}
}

func checkReferences(c *checker) {
	for _, o := range c.ofKind(gateway.Route) {
		for _, it := range gateway.Items(o.Unstructured) {
			refs := backendRefsOf(it.Value)
			c.checkPoolRefs(o, it.Key, refs)
			for _, ref := range refs {
				kind, _ := ref["kind"].(string)
				name, _ := ref["name"].(string)
				if kind != "" || c.has(gateway.ServiceBackend, name) {
					continue
				}
				c.add(Error, "dangling-reference", c.originOf(o, it.Key), objectName(o),
					fmt.Sprintf("rule %s points at AIServiceBackend %s, which is not in the tree", it.Key, name),
					"add the AIServiceBackend (or a Model that generates it), or fix the backendRef name")
			}
		}
	}
	for _, o := range c.ofKind(gateway.ServiceBackend) {
		name, _, _ := unstructured.NestedString(o.Object, "spec", "backendRef", "name")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "backendRef", "kind")
		if kind == gateway.Backend.Kind && !c.has(gateway.Backend, name) {
			c.add(Error, "dangling-reference", o.Origin, objectName(o),
				fmt.Sprintf("backendRef points at Backend %s, which is not in the tree", name), "add the Backend under backend/, or fix the name")
		}
	}
	for _, o := range c.ofKind(gateway.SecurityPolicy) {
		for _, it := range gateway.Items(o.Unstructured) {
			kind, _ := it.Value["kind"].(string)
			name, _ := it.Value["name"].(string)
			if kind == gateway.ServiceBackend.Kind && !c.has(gateway.ServiceBackend, name) {
				c.add(Error, "dangling-reference", c.originOf(o, it.Key), objectName(o),
					fmt.Sprintf("targetRef points at AIServiceBackend %s, which is not in the tree", name), "remove the targetRef or add the backend")
			}
		}
	}
	for _, o := range c.ofKind(gateway.TrafficPolicy) {
		for _, it := range gateway.Items(o.Unstructured) {
			kind, _ := it.Value["kind"].(string)
			name, _ := it.Value["name"].(string)
			if kind == gateway.HTTPRoute.Kind && !c.has(gateway.Route, name) && !c.has(gateway.HTTPRoute, name) {
				c.add(Error, "dangling-reference", c.originOf(o, it.Key), objectName(o),
					fmt.Sprintf("targetRef points at HTTPRoute %s, but no AIGatewayRoute of that name is in the tree", name),
					"the HTTPRoute is generated with the AIGatewayRoute's name; remove the targetRef or fix the name")
			}
		}
	}
}

// checkRoundRobinCovered: a rule with several backendRefs round-robins, and
// needs a BackendTrafficPolicy on its route's HTTPRoute for retries and failover.
func checkRoundRobinCovered(c *checker) {
	covered := map[string]bool{}
	for _, o := range c.ofKind(gateway.TrafficPolicy) {
		for _, it := range gateway.Items(o.Unstructured) {
			if name, ok := it.Value["name"].(string); ok && it.Value["kind"] == gateway.HTTPRoute.Kind {
				covered[name] = true
			}
		}
	}
	for _, o := range c.ofKind(gateway.Route) {
		for _, it := range gateway.Items(o.Unstructured) {
			if len(backendRefsOf(it.Value)) > 1 && !covered[o.GetName()] {
				c.add(Error, "round-robin-without-policy", c.originOf(o, it.Key), objectName(o),
					fmt.Sprintf("rule %s round-robins over %d backends but no BackendTrafficPolicy targets HTTPRoute %s", it.Key, len(backendRefsOf(it.Value)), o.GetName()),
					"add a targetRef {group: gateway.networking.k8s.io, kind: HTTPRoute, name: "+o.GetName()+"} to the BackendTrafficPolicy with the retry policy")
				break
			}
		}
	}
}

func checkSecurityPolicies(c *checker) {
	targets := map[string][]string{}
	for _, o := range c.ofKind(gateway.SecurityPolicy) {
		items := gateway.Items(o.Unstructured)
		if len(items) > gateway.MaxPolicyTargetRefs {
			c.add(Error, "too-many-targets", o.Origin, objectName(o),
				fmt.Sprintf("%d targetRefs; at most %d are allowed", len(items), gateway.MaxPolicyTargetRefs), "split the backends over two policies with the same key")
		}
		for _, it := range items {
			targets[it.Key] = append(targets[it.Key], o.GetName())
		}
	}
	keys := make([]string, 0, len(targets))
	for k := range targets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if pols := targets[k]; len(pols) > 1 {
			o := c.in.Objects[c.byID[gateway.ID(gateway.SecurityPolicy, "", pols[1])][0]]
			c.add(Error, "backend-two-security-policies", c.originOf(o, k), objectName(o),
				fmt.Sprintf("%s is targeted by BackendSecurityPolicies %s; a backend may have only one", k[strings.LastIndex(k, "/")+1:], strings.Join(pols, " and ")),
				"remove the targetRef from all but one policy")
		}
	}
}

// checkPoolRefs applies the AIGatewayRoute CRD's rules for InferencePool
// backendRefs, and that the pool is in the tree: a rule holds one pool and
// nothing else, named with group inference.networking.k8s.io and kind
// InferencePool together.
func (c *checker) checkPoolRefs(o manifest.Object, rule string, refs []map[string]any) {
	where := c.originOf(o, rule)
	pools := 0
	for _, ref := range refs {
		group, hasGroup := ref["group"].(string)
		kind, hasKind := ref["kind"].(string)
		name, _ := ref["name"].(string)
		switch {
		case hasGroup != hasKind:
			c.add(Error, "pool-reference", where, objectName(o), fmt.Sprintf("rule %s: backendRef %s sets only one of group and kind", rule, name),
				"set both (group: inference.networking.k8s.io, kind: InferencePool) for a pool, or neither for an AIServiceBackend")
		case !hasKind:
			continue
		case group != gateway.InferencePool.Group || kind != gateway.InferencePool.Kind:
			c.add(Error, "pool-reference", where, objectName(o), fmt.Sprintf("rule %s: backendRef %s is %s %s; a rule can only name an InferencePool of %s", rule, name, group, kind, gateway.PoolGroup),
				"write group: inference.networking.k8s.io and kind: InferencePool (the v1 API)")
		case !c.has(gateway.InferencePool, name):
			c.add(Error, "dangling-reference", where, objectName(o), fmt.Sprintf("rule %s points at InferencePool %s, which is not in the tree", rule, name),
				"add the InferencePool (or a Model with pool:), or fix the backendRef name")
		}
		if hasKind {
			pools++
		}
	}
	switch {
	case pools > 1:
		c.add(Error, "pool-reference", where, objectName(o), fmt.Sprintf("rule %s sends to %d InferencePools; a rule holds one", rule, pools),
			"give each pool its own rule; the pool's endpoint picker balances its pods")
	case pools > 0 && pools < len(refs):
		c.add(Error, "pool-reference", where, objectName(o), fmt.Sprintf("rule %s mixes an InferencePool with AIServiceBackends", rule),
			"send the rule to the pool alone, or to AIServiceBackends alone")
	}
}
