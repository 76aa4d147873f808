package generate

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
)

// routes adds every model's rule to its route group. A group is a
// hand-written AIGatewayRoute (the template); when its rules would pass
// gateway.MaxRouteRules, the rest go to copies named <template>-2, <template>-3, …
// Models fill the shards in order of their served name, so a new model can
// move others' rules to the next shard: every shard carries the template's
// name (gateway.AnnotationGroup) so that a plan sees a move, not a removal.
func (g *generator) routes(models []*model.Model) {
	groups := map[string][]*model.Model{}
	for _, m := range models {
		name := m.Spec.Route
		if name == "" {
			name = g.onlyRoute()
		}
		if name == "" {
			g.fail(m, "spec.route is not set and the tree does not hold exactly one AIGatewayRoute", "set spec.route to the AIGatewayRoute this model's rule goes into")
			continue
		}
		groups[name] = append(groups[name], m)
	}
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		g.routeGroup(name, groups[name])
	}
	g.dropEmptyShared()
}

func (g *generator) onlyRoute() string {
	var found string
	for id := range g.shared {
		if id.Kind == gateway.Route.Kind {
			if found != "" {
				return ""
			}
			found = id.Name
		}
	}
	return found
}

func (g *generator) routeGroup(name string, models []*model.Model) {
	idx, ok := g.shared[gateway.ID(gateway.Route, "", name)]
	if !ok {
		for _, m := range models {
			g.fail(m, fmt.Sprintf("route group %q: there is no AIGatewayRoute %s in the tree", name, name),
				"add the AIGatewayRoute (parentRefs, llmRequestCosts; rules optional) under gatewayroute/, or fix spec.route")
		}
		return
	}
	template := g.out.Objects[idx]
	shards := [][]gateway.Item{gateway.Items(template.Unstructured)}
	owners := []*model.Model{nil}
	firsts := []*model.Model{nil}
	for _, m := range models {
		last := len(shards) - 1
		if len(shards[last]) >= gateway.MaxRouteRules {
			shards = append(shards, nil)
			owners = append(owners, nil)
			firsts = append(firsts, m)
			last++
		}
		rule := rule(m, g.backendRefs(m))
		shards[last] = append(shards[last], gateway.Item{Noun: gateway.NounRule, Key: gateway.RuleKey(rule), Value: rule})
		if refs, _ := rule["backendRefs"].([]any); len(refs) > 1 && owners[last] == nil {
			owners[last] = m
		}
		g.out.Contributions = append(g.out.Contributions, Contribution{
			Owner: g.shardID(template, last), Noun: gateway.NounRule, Key: gateway.RuleKey(rule), Model: m.Name(), Origin: m.Origin,
		})
	}
	manifest.SetAnnotation(template.Unstructured, gateway.AnnotationGroup, template.GetName())
	for i, items := range shards {
		obj := template
		if i > 0 {
			obj = manifest.Object{Unstructured: template.DeepCopy(), Origin: template.Origin}
			obj.SetName(g.shardID(template, i).Name)
			g.out.Objects = append(g.out.Objects, obj)
			g.shared[g.key(obj)] = len(g.out.Objects) - 1
		}
		if err := gateway.SetItems(obj.Unstructured, items); err != nil {
			g.errs = append(g.errs, err)
		}
		if owners[i] != nil {
			g.coverRoundRobin(template, obj.GetName(), owners[i])
		}
		if i > 0 {
			g.followShard(template, obj.GetName(), firsts[i])
		}
	}
}

// followShard puts a shard's HTTPRoute into every traffic policy that
// targets the HTTPRoute of its route group's template, so that the models a
// shard holds keep their retry policy when the group outgrows one route.
func (g *generator) followShard(template manifest.Object, shard string, m *model.Model) {
	var policies []manifest.ID
	for id, idx := range g.shared {
		if id.Kind != gateway.TrafficPolicy.Kind {
			continue
		}
		for _, it := range gateway.Items(g.out.Objects[idx].Unstructured) {
			if it.Value["kind"] == gateway.HTTPRoute.Kind && it.Value["name"] == template.GetName() {
				policies = append(policies, id)
				break
			}
		}
	}
	slices.SortFunc(policies, func(a, b manifest.ID) int { return strings.Compare(a.Name, b.Name) })
	for _, id := range policies {
		g.addTarget(m, id, gateway.RefTo(gateway.HTTPRoute, shard), "")
	}
}

func (g *generator) shardID(template manifest.Object, i int) manifest.ID {
	id := template.ID()
	if i > 0 {
		id.Name = fmt.Sprintf("%s-%d", template.GetName(), i+1)
	}
	return id
}

// coverRoundRobin puts the HTTPRoute generated for route (same name as the
// AIGatewayRoute) into the BackendTrafficPolicy that gives round-robin rules
// their retry policy: the one the template names in its annotation, else the
// only BackendTrafficPolicy in the tree.
func (g *generator) coverRoundRobin(template manifest.Object, route string, m *model.Model) {
	policy := template.GetAnnotations()[model.AnnotationTrafficPolicy]
	if policy == "" {
		for id := range g.shared {
			if id.Kind == gateway.TrafficPolicy.Kind {
				if policy != "" {
					policy = ""
					break
				}
				policy = id.Name
			}
		}
	}
	if policy == "" {
		g.fail(m, fmt.Sprintf("round-robin rule in AIGatewayRoute %s needs a BackendTrafficPolicy with a retry policy", route),
			fmt.Sprintf("add one to the tree, or annotate AIGatewayRoute %s with %s: <name>", template.GetName(), model.AnnotationTrafficPolicy))
		return
	}
	g.addTarget(m, gateway.ID(gateway.TrafficPolicy, "", policy),
		gateway.RefTo(gateway.HTTPRoute, route), "add the BackendTrafficPolicy to models-config")
}

// dropEmptyShared removes shared objects left with no rules or targets: the
// runbook deletes an AIGatewayRoute whose last rule goes and a policy whose last
// targetRef goes, and an empty targetRefs would make a policy apply to nothing.
func (g *generator) dropEmptyShared() {
	kept := g.out.Objects[:0]
	for _, o := range g.out.Objects {
		if _, shared := gateway.ItemListFor(o.Unstructured); shared && len(gateway.Items(o.Unstructured)) == 0 && !hasOtherTargets(o.Unstructured) {
			continue
		}
		kept = append(kept, o)
	}
	g.out.Objects = kept
}

func hasOtherTargets(u *unstructured.Unstructured) bool {
	_, one, _ := unstructured.NestedMap(u.Object, "spec", "targetRef")
	sel, _, _ := unstructured.NestedSlice(u.Object, "spec", "targetSelectors")
	return one || len(sel) > 0
}
