package model

import (
	"errors"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"modelsync.dev/modelsync/gateway"
	"modelsync.dev/modelsync/manifest"
)

// Error is a problem generating a Model's objects, located at the Model's file.
type Error struct {
	Origin manifest.Origin
	Model  string
	Msg    string
	Hint   string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("Model %s: %s", e.Model, e.Msg)
	if e.Origin.File != "" {
		s = fmt.Sprintf("%s: %s", e.Origin, s)
	}
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

// Contribution is a list entry a Model put into a shared object.
type Contribution struct {
	Owner  manifest.ID
	Noun   string
	Key    string
	Model  string
	Origin manifest.Origin
}

// Output is the desired set after generation.
type Output struct {
	// Objects are the hand-written objects (shared ones with the models'
	// entries merged in) followed by the generated ones.
	Objects []manifest.Object
	// Contributions record which model put which entry into a shared object.
	Contributions []Contribution
}

// Generate turns models into objects in namespace ns and merges their rules
// and targetRefs into the shared objects among raw (the hand-written objects).
// raw is not modified.
func Generate(models []Model, raw []manifest.Object, ns string) (Output, error) {
	g := &generator{ns: ns, byName: map[string]*Model{}, shared: map[manifest.ID]int{}}
	for i := range raw {
		o := manifest.Object{Unstructured: raw[i].DeepCopy(), Origin: raw[i].Origin}
		g.out.Objects = append(g.out.Objects, o)
		if _, ok := gateway.ItemListFor(o.Unstructured); ok {
			g.shared[g.key(o)] = len(g.out.Objects) - 1
		}
	}
	for i := range models {
		g.byName[models[i].Name()] = &models[i]
	}
	sorted := make([]*Model, len(models))
	for i := range models {
		sorted[i] = &models[i]
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ServedName() < sorted[j].ServedName() })
	for _, m := range sorted {
		g.model(m)
	}
	g.routes(sorted)
	g.catalogues()
	return g.out, errors.Join(g.errs...)
}

type generator struct {
	ns     string
	out    Output
	byName map[string]*Model
	// shared indexes out.Objects by kind/name for the objects with keyed lists.
	shared map[manifest.ID]int
	errs   []error
}

func (g *generator) key(o manifest.Object) manifest.ID {
	id := o.ID()
	id.Namespace = ""
	return id
}

func (g *generator) fail(m *Model, msg, hint string) {
	g.errs = append(g.errs, &Error{Origin: m.Origin, Model: m.Name(), Msg: msg, Hint: hint})
}

func (g *generator) emit(m *Model, obj runtime.Object) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			g.fail(m, err.Error(), "")
			return
		}
		dropEmpty(content)
		u = &unstructured.Unstructured{Object: content}
	}
	g.out.Objects = append(g.out.Objects, manifest.Object{Unstructured: u, Origin: m.Origin})
}

// model writes the objects that belong to m alone.
func (g *generator) model(m *Model) {
	if len(m.Spec.Combine) > 0 {
		return // a combined model only has its rule
	}
	if s := m.Spec.Server; s != nil && s.MultiNode() {
		lws, err := m.leaderWorkerSet(g.ns, s.ResolvedVariants()[0])
		if err != nil {
			g.fail(m, err.Error(), "give a Kubernetes quantity such as 64Gi or 8")
		} else {
			g.emit(m, lws)
		}
		g.emit(m, m.service(g.ns))
	} else if m.Spec.Server != nil {
		for _, r := range m.Spec.Server.ResolvedVariants() {
			sts, err := m.statefulSet(g.ns, r)
			if err != nil {
				g.fail(m, err.Error(), "give a Kubernetes quantity such as 64Gi or 8")
				continue
			}
			g.emit(m, sts)
		}
		g.emit(m, m.service(g.ns))
	}
	if m.Spec.Pool != nil {
		if m.Spec.Server == nil || m.Spec.APIKey != "" {
			g.fail(m, "a pool routes to pods served here, with no AIServiceBackend for an API key to target", "use pool with server and without apiKey")
			return
		}
		for _, o := range m.pool(g.ns) {
			g.emit(m, o.(runtime.Object))
		}
		return
	}
	g.emit(m, m.backend(g.ns))
	g.emit(m, m.serviceBackend(g.ns))
	if m.Spec.APIKey != "" {
		g.addTarget(m, manifest.ID{Group: gateway.AIGatewayGroup, Kind: "BackendSecurityPolicy", Name: m.Spec.APIKey},
			targetRef(gateway.AIGatewayGroup, "AIServiceBackend", m.BackendName()),
			"add the BackendSecurityPolicy holding this API key to models-config (the runbook's securitypolicy.yaml)")
	}
}

// backendRefs of m's rule: its own backend, or the backends it combines.
func (g *generator) backendRefs(m *Model) []any {
	if len(m.Spec.Combine) == 0 {
		if m.Spec.Pool != nil {
			return []any{m.poolRef()}
		}
		return []any{m.backendRef()}
	}
	var refs []any
	for _, name := range m.Spec.Combine {
		other, ok := g.byName[name]
		switch {
		case !ok:
			g.fail(m, fmt.Sprintf("combines %q, which is not a Model in the tree", name), "name a Model by its metadata.name")
		case len(other.Spec.Combine) > 0:
			g.fail(m, fmt.Sprintf("combines %q, which is itself a combined model", name), "combine the models it combines instead")
		case other.Spec.Pool != nil:
			g.fail(m, fmt.Sprintf("combines %q, which is served through an InferencePool", name),
				"a rule cannot mix an InferencePool with AIServiceBackends, and holds one pool: its endpoint picker already balances the pool's pods")
		default:
			refs = append(refs, other.backendRef())
		}
	}
	return refs
}

func (g *generator) addTarget(m *Model, owner manifest.ID, ref map[string]any, hint string) {
	i, ok := g.shared[owner]
	if !ok {
		g.fail(m, fmt.Sprintf("%s %s is not in the tree", owner.Kind, owner.Name), hint)
		return
	}
	obj := g.out.Objects[i]
	items := gateway.Items(obj.Unstructured)
	key := gateway.TargetRefKey(ref)
	g.out.Contributions = append(g.out.Contributions, Contribution{Owner: obj.ID(), Noun: "targetRef", Key: key, Model: m.Name(), Origin: m.Origin})
	for _, it := range items {
		if it.Key == key {
			return
		}
	}
	items = append(items, gateway.Item{Noun: "targetRef", Key: key, Value: ref})
	if err := gateway.SetItems(obj.Unstructured, items); err != nil {
		g.fail(m, err.Error(), "")
	}
}

// dropEmpty removes the null creationTimestamp and empty status that typed
// objects carry when converted, so rendered output shows only what was set.
func dropEmpty(m map[string]any) {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			dropEmpty(t)
			if len(t) == 0 && (k == "status" || k == "metadata" || k == "resources") {
				delete(m, k)
			}
		case []any:
			for _, e := range t {
				if em, ok := e.(map[string]any); ok {
					dropEmpty(em)
				}
			}
		}
	}
}
