package importer

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/tree/engine"
	"modelsync.dev/modelsync/tree/generate"
	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
)

// generate renders m with the route and policy it contributes to, and
// returns its StatefulSet.
func (im *importer) generate(m *model.Model, srv *server) (*appsv1.StatefulSet, error) {
	out, err := im.render(m, srv)
	if err != nil {
		return nil, err
	}
	for _, o := range out.Objects {
		if o.GetKind() == "StatefulSet" && o.GetName() == srv.sts.Name {
			var sts appsv1.StatefulSet
			err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &sts)
			return &sts, err
		}
	}
	return nil, fmt.Errorf("the Model generates no StatefulSet %s", srv.sts.Name)
}

// render generates m beside copies of its route (without its rule) and
// API key policy (without its targetRef).
func (im *importer) render(m *model.Model, srv *server) (generate.Output, error) {
	route := srv.route.DeepCopy()
	removeItem(route, gateway.RuleKey(srv.rule))
	raw := []manifest.Object{{Unstructured: route}}
	if srv.policy != nil {
		p := srv.policy.DeepCopy()
		removeItem(p, targetKey(srv.serviceBackend.GetName()))
		raw = append(raw, manifest.Object{Unstructured: p})
	}
	return generate.Objects([]model.Model{*m}, raw, im.ns)
}

// verify checks that every object m generates equals the one it replaces,
// as applied, and that its rule is the route's rule.
func (im *importer) verify(ctx context.Context, m *model.Model, srv *server) error {
	out, err := im.render(m, srv)
	if err != nil {
		return err
	}
	if len(engine.Conflicts(m)) > 0 || len(engine.Doubled(m)) > 0 {
		return fmt.Errorf("the fields read from the engine line do not agree with it: %s", strings.Join(append(engine.Conflicts(m), engine.Doubled(m)...), "; "))
	}
	originals := map[string]*unstructured.Unstructured{}
	for _, o := range []*unstructured.Unstructured{srv.workload, srv.svc, srv.backend, srv.serviceBackend} {
		if o != nil {
			originals[o.GetKind()+"/"+o.GetName()] = o
		}
	}
	for _, o := range out.Objects {
		key := o.GetKind() + "/" + o.GetName()
		if gateway.IsRoute(o) {
			if err := sameRule(o.Unstructured, srv.rule); err != nil {
				return err
			}
			continue
		}
		if gateway.Is(o, gateway.SecurityPolicy) {
			continue
		}
		orig, ok := originals[key]
		if !ok {
			return fmt.Errorf("the Model would also create %s", key)
		}
		applied, err := im.applied(ctx, o.Unstructured)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		a, err := comparable(applied)
		if err != nil {
			return err
		}
		b, err := comparable(im.live[orig])
		if err != nil {
			return err
		}
		if d := cmp.Diff(b, a); d != "" {
			return fmt.Errorf("the Model would change %s (-live +generated):\n%s", key, d)
		}
	}
	return nil
}

// sameRule checks the generated route holds the original rule, give or take
// the rule name modelsync adds.
func sameRule(route *unstructured.Unstructured, want map[string]any) error {
	key := gateway.RuleKey(want)
	for _, it := range gateway.Items(route) {
		if it.Key != key {
			continue
		}
		got := runtime.DeepCopyJSON(it.Value)
		if _, named := want["name"]; !named {
			delete(got, "name")
		}
		if d := cmp.Diff(want, got); d != "" {
			return fmt.Errorf("the Model would change rule %s (-live +generated):\n%s", key, d)
		}
		return nil
	}
	return fmt.Errorf("the Model generates no rule %s", key)
}
