package importer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/generate"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
)

// routed turns the rules no server claimed into Models: a rule that sends to
// one Backend in another namespace or outside the cluster is an external
// Model; a rule that round-robins over the backends of Models is a combined
// Model. A rule that is neither stays in its route, with the reason.
func (im *importer) routed(ctx context.Context, models []*model.Model) []*model.Model {
	byBackend := map[string]string{}
	for _, m := range models {
		byBackend[m.BackendName()] = m.Name()
	}
	var combined []gateway.Item
	var routes []*unstructured.Unstructured
	for _, r := range im.objectsOf(gateway.Route) {
		for _, it := range gateway.Items(r) {
			if refs, _ := it.Value["backendRefs"].([]any); len(refs) > 1 {
				combined = append(combined, it)
				routes = append(routes, r)
				continue
			}
			m, err := im.external(ctx, r, it.Value)
			if err != nil {
				im.note("rule %s stays in AIGatewayRoute %s: %v", it.Key, r.GetName(), err)
				continue
			}
			models = append(models, m)
			byBackend[m.BackendName()] = m.Name()
		}
	}
	for i, it := range combined {
		m, err := im.combined(models, byBackend, routes[i], it.Value)
		if err != nil {
			im.note("rule %s stays in AIGatewayRoute %s: %v", it.Key, routes[i].GetName(), err)
			continue
		}
		models = append(models, m)
	}
	return models
}

// external fits an external Model to a rule that sends to one backend.
func (im *importer) external(ctx context.Context, route *unstructured.Unstructured, rule map[string]any) (*model.Model, error) {
	srv := &server{route: route, rule: rule}
	ref, _ := rule["backendRefs"].([]any)[0].(map[string]any)
	name, _ := ref["name"].(string)
	if kind, _ := ref["kind"].(string); kind != "" && kind != gateway.ServiceBackend.Kind {
		return nil, fmt.Errorf("it sends to %s %s, which only a Model with a pool generates", kind, name)
	}
	for _, a := range im.objectsOf(gateway.ServiceBackend) {
		if a.GetName() == name {
			srv.serviceBackend = a
		}
	}
	if srv.serviceBackend == nil {
		return nil, fmt.Errorf("its AIServiceBackend %s is not in the tree", name)
	}
	if b, _, _ := unstructured.NestedString(srv.serviceBackend.Object, "spec", "backendRef", "name"); b != name {
		return nil, fmt.Errorf("AIServiceBackend %s uses Backend %s; a Model generates both under one name", name, b)
	}
	for _, b := range im.objectsOf(gateway.Backend) {
		if b.GetName() == name {
			srv.backend = b
		}
	}
	if srv.backend == nil {
		return nil, fmt.Errorf("its Backend %s is not in the tree", name)
	}
	eps, _, _ := unstructured.NestedSlice(srv.backend.Object, "spec", "endpoints")
	if len(eps) != 1 {
		return nil, fmt.Errorf("Backend %s has %d endpoints; an external Model has one hostname and port", name, len(eps))
	}
	host, _, _ := unstructured.NestedString(eps[0].(map[string]any), "fqdn", "hostname")
	port, _, _ := unstructured.NestedInt64(eps[0].(map[string]any), "fqdn", "port")
	if host == "" {
		return nil, fmt.Errorf("Backend %s has no fqdn endpoint; an external Model names a hostname", name)
	}
	if svc, ok := strings.CutSuffix(host, "."+im.ns+".svc.cluster.local"); ok {
		return nil, fmt.Errorf("it sends to Service %s of this namespace, whose server is not in the tree; import the namespace with its StatefulSet and the Model generates both", svc)
	}
	policy, err := im.policyOf(name)
	if err != nil {
		return nil, err
	}
	srv.policy = policy
	key := gateway.RuleKey(rule)
	m := &model.Model{APIVersion: model.APIVersion, Kind: model.Kind, Metadata: model.Metadata{Name: key, Namespace: im.ns}}
	m.Spec.External = &model.External{Hostname: host, Port: int32(port)}
	im.routing(m, srv)
	if err := im.verify(ctx, m, srv); err != nil {
		return nil, err
	}
	im.taken[srv.backend], im.taken[srv.serviceBackend] = true, true
	removeItem(route, key)
	if policy != nil {
		removeItem(policy, targetKey(name))
	}
	return m, nil
}

// combined fits a combined Model to a rule that round-robins over the
// backends of the Models already found.
func (im *importer) combined(models []*model.Model, byBackend map[string]string, route *unstructured.Unstructured, rule map[string]any) (*model.Model, error) {
	key := gateway.RuleKey(rule)
	m := &model.Model{APIVersion: model.APIVersion, Kind: model.Kind, Metadata: model.Metadata{Name: key, Namespace: im.ns}}
	for _, r := range rule["backendRefs"].([]any) {
		name, _ := r.(map[string]any)["name"].(string)
		other, ok := byBackend[name]
		if !ok {
			return nil, fmt.Errorf("combine names Models, and AIServiceBackend %s is not one this import wrote", name)
		}
		m.Spec.Combine = append(m.Spec.Combine, other)
	}
	m.Spec.Route = route.GetName()
	m.Spec.OwnedBy, _ = rule["modelsOwnedBy"].(string)
	if t, _, _ := unstructured.NestedString(rule, "timeouts", "request"); t != model.DefaultTimeout {
		m.Spec.Timeout = t
	}
	// Generate every Model beside the route without this rule; the rule
	// generated must be the rule written.
	without := route.DeepCopy()
	removeItem(without, key)
	raw := []manifest.Object{{Unstructured: without}}
	for _, kind := range []schema.GroupKind{gateway.SecurityPolicy, gateway.TrafficPolicy} {
		for _, p := range im.objectsOf(kind) {
			raw = append(raw, manifest.Object{Unstructured: p.DeepCopy()})
		}
	}
	all := []model.Model{*m}
	for _, o := range models {
		all = append(all, *o)
	}
	out, err := generate.Objects(all, raw, im.ns)
	if err != nil {
		return nil, err
	}
	for _, o := range out.Objects {
		if gateway.IsRoute(o) && o.GetName() == route.GetName() {
			if err := sameRule(o.Unstructured, runtime.DeepCopyJSON(rule)); err != nil {
				return nil, err
			}
			removeItem(route, key)
			return m, nil
		}
	}
	return nil, errors.New("the Model generates no rule")
}

// policyOf is the one BackendSecurityPolicy that targets the AIServiceBackend.
func (im *importer) policyOf(serviceBackend string) (*unstructured.Unstructured, error) {
	var policy *unstructured.Unstructured
	key := targetKey(serviceBackend)
	for _, p := range im.objectsOf(gateway.SecurityPolicy) {
		for _, it := range gateway.Items(p) {
			if it.Key == key {
				if policy != nil {
					return nil, fmt.Errorf("two BackendSecurityPolicies target AIServiceBackend %s; a Model names one API key", serviceBackend)
				}
				policy = p
			}
		}
	}
	return policy, nil
}
